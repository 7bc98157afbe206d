"""Process workers of the concurrency tests (run by ``tests.conformance.workers.run_processes``)."""

from __future__ import annotations

import asyncio
import sys
from multiprocessing.synchronize import Barrier

import storeroom
from storeroom.filestore import FileStore

__all__ = ["append_worker", "line_of"]


def line_of(process: int, task: int, number: int) -> str:
    """The line one append writes: distinct for every (process, task, number)."""
    return f"p{process} t{task} n{number}\n"


async def append_worker(index: int, barrier: Barrier, url: str, tasks: int, times: int) -> int:
    """``tasks`` tasks each appending ``times`` lines to ``log.txt``; returns failed appends."""
    files = FileStore(storeroom.provider(url))
    async with files.provider:
        barrier.wait()

        async def task(number: int) -> int:
            failed = 0
            for n in range(times):
                result = await files.append_text("log.txt", line_of(index, number, n))
                if not result.success:
                    print(f"append failed: {result.error} {result.metadata}", file=sys.stderr)
                    failed += 1
            return failed

        return sum(await asyncio.gather(*(task(number) for number in range(tasks))))
