"""A writer process of the catalog's multi-process tests.

``python -m tests.catalog.writer ROOT INDEX PROCESS COUNT``: stores COUNT
versions (4 tasks at once) into the local store at ROOT with the index at
INDEX; each version's metadata names its writer (``p``, ``i``). Exits 1 if a
store failed.

``python -m tests.catalog.writer ROOT INDEX PROCESS 1 kill``: stores one
version and is SIGKILLed right after its manifest and head are written and
before the index hears of it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Sequence

import storeroom
from storeroom.catalog.index import Change


async def main(root: str, index: str, process: int, count: int, kill: bool) -> int:
    store = storeroom.artifacts(root, index=index)
    assert store.index is not None
    if kill:
        async def die(changes: Sequence[Change]) -> None:
            os.kill(os.getpid(), signal.SIGKILL)

        store.index.record = die  # type: ignore[method-assign]
    numbers = iter(range(count))

    async def task() -> int:
        failures = 0
        for i in numbers:
            name = f"shared/{i % 3}" if i % 2 else f"own/{process}"
            result = await store.store_artifact(
                name, f"{process}-{i}", metadata={"p": process, "i": i}
            )
            if not result.success:
                print(result, file=sys.stderr)
                failures += 1
        return failures

    failures = sum(await asyncio.gather(*(task() for _ in range(4))))
    await store.aclose()
    return 1 if failures else 0


if __name__ == "__main__":
    root, index, process, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    sys.exit(asyncio.run(main(root, index, process, count, sys.argv[5:] == ["kill"])))
