"""Racing writers: as asyncio tasks in one process, or in several OS processes.

The process side imports nothing but the standard library and storeroom, so
that spawning a worker stays cheap.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
import random
import traceback
from collections.abc import Callable, Coroutine
from multiprocessing.synchronize import Barrier
from typing import Any

import storeroom
from storeroom import AlreadyExists, IfMatch, PreconditionFailed, Provider

__all__ = ["create_race_worker", "increment", "increment_worker", "race_create", "run_processes"]

#: A process worker: (its index, a barrier shared by all workers, its arguments) -> a result.
Worker = Callable[..., Coroutine[Any, Any, Any]]


async def race_create(provider: Provider, key: str, tokens: list[str]) -> list[str]:
    """Let one task per token ``put(key, token, mode="create")`` at once; return the winners."""

    async def attempt(token: str) -> str | None:
        await asyncio.sleep(0)
        try:
            await provider.put(key, token.encode(), mode="create")
        except AlreadyExists:
            return None
        return token

    outcomes = await asyncio.gather(*(attempt(token) for token in tokens))
    return [token for token in outcomes if token is not None]


async def increment(provider: Provider, key: str, times: int) -> int:
    """Add one to the decimal counter at ``key``, ``times`` times, by compare-and-swap.

    Returns:
        how many attempts lost the race (and were retried).
    """
    lost = 0
    for _ in range(times):
        streak = 0
        while True:
            current = await provider.get(key)
            assert current.meta.etag is not None
            await asyncio.sleep(0)  # let the other writers read the same version
            try:
                await provider.put(
                    key, b"%d" % (int(current.data) + 1), mode=IfMatch(current.meta.etag)
                )
            except PreconditionFailed:
                lost += 1
                streak += 1
                # Jittered backoff, as a real compare-and-swap loop does.
                await asyncio.sleep(random.uniform(0, 0.0002 * 2 ** min(streak, 8)))
                continue
            break
    return lost


async def create_race_worker(
    index: int, barrier: Barrier, url: str, rounds: int, tasks: int
) -> list[tuple[int, str]]:
    """One process of the create race: ``tasks`` writers per round; returns (round, token) won."""
    won: list[tuple[int, str]] = []
    async with storeroom.provider(url) as provider:
        for round_ in range(rounds):
            barrier.wait()
            tokens = [f"p{index}-t{task}" for task in range(tasks)]
            won.extend((round_, token) for token in await race_create(
                provider, f"race/{round_}", tokens
            ))
    return won


async def increment_worker(
    index: int, barrier: Barrier, url: str, tasks: int, times: int
) -> int:
    """One process of the counter: ``tasks`` writers adding ``times`` each; returns races lost."""
    async with storeroom.provider(url) as provider:
        barrier.wait()
        lost = await asyncio.gather(*(increment(provider, "counter", times) for _ in range(tasks)))
    return sum(lost)


def _entry(
    worker: Worker, index: int, barrier: Barrier, results: Any, args: tuple[Any, ...]
) -> None:
    try:
        result: Any = asyncio.run(worker(index, barrier, *args))
    except BaseException:
        barrier.abort()
        results.put((index, traceback.format_exc(), None))
    else:
        results.put((index, None, result))


def run_processes(worker: Worker, count: int, *args: Any, timeout: float = 120) -> list[Any]:
    """Run ``worker`` in ``count`` spawned processes at once; their results by index.

    Raises:
        AssertionError: a worker failed (with its traceback) or did not answer in time.
    """
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(count, timeout=timeout)
    results = context.Queue()
    processes = [
        context.Process(target=_entry, args=(worker, index, barrier, results, args))
        for index in range(count)
    ]
    answers: dict[int, Any] = {}
    try:
        for process in processes:
            process.start()
        for _ in range(count):
            try:
                index, error, result = results.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"a worker process did not answer in {timeout} s") from None
            if error is not None:
                raise AssertionError(f"worker process {index} failed:\n{error}")
            answers[index] = result
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()
    return [answers[index] for index in range(count)]
