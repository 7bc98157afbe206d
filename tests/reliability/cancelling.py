"""The cancellation driver of the sweep: run an operation, maybe cancel it somewhere.

Each operation is started as a task and then, by a seeded coin:

- left to finish (``done``);
- cancelled with ``task.cancel()`` after a random number of event-loop turns
  (``0`` cancels it before its first step, larger numbers land on later awaits);
- cancelled by a deadline (``asyncio.wait_for`` with a random timeout of up to a
  few milliseconds, which lands inside I/O that is really in flight).

A cancelled operation may still have happened (its write landed before the
cancellation arrived): the sweep's invariants allow exactly that and nothing
else. An operation that finished returns its result; one that raised a typed
storeroom error (``NotFound`` after a concurrent delete, ``AlreadyExists`` after
a racing create, ...) returns the error, which the caller checks.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

_T = TypeVar("_T")

Outcome = Literal["done", "failed", "cancelled"]


@dataclass
class Result(Generic[_T]):
    """How one operation ended: its value, its error, or its cancellation."""

    outcome: Outcome
    value: _T | None = None
    error: BaseException | None = None


@dataclass
class Tally:
    """Counts of one sweep, added to the run's reliability figures."""

    counts: Counter[str] = field(default_factory=Counter)
    wrong: list[str] = field(default_factory=list)

    def bad(self, what: str) -> None:
        """Record a broken invariant (the test fails at the end, listing them all)."""
        self.wrong.append(what)


async def run(
    rng: random.Random, operation: Callable[[], Awaitable[_T]], tally: Tally
) -> Result[_T]:
    """Run ``operation`` as a task; maybe cancel it at a random point."""
    task = asyncio.ensure_future(operation())
    coin = rng.random()
    if coin < 0.45:
        pass  # left to finish
    elif coin < 0.8:
        for _ in range(rng.randrange(0, 8)):
            if task.done():
                break
            await asyncio.sleep(0)
        task.cancel()
    else:
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=rng.uniform(0, 0.004))
        except asyncio.TimeoutError:
            task.cancel()
        except Exception:
            pass
    tally.counts["operations"] += 1
    try:
        value = await task
    except asyncio.CancelledError:
        tally.counts["cancellations"] += 1
        return Result("cancelled")
    except Exception as error:
        return Result("failed", error=error)
    return Result("done", value)


def open_descriptors() -> int:
    """How many file descriptors this process holds now."""
    return len(os.listdir("/proc/self/fd"))


async def settle() -> None:
    """Let callbacks and finished tasks run to their end."""
    for _ in range(20):
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)


def stray_tasks() -> list[asyncio.Task[Any]]:
    """Tasks of this loop other than the current one that have not finished."""
    current = asyncio.current_task()
    return [task for task in asyncio.all_tasks() if task is not current and not task.done()]
