"""Helpers of the cloud tests (the emulators are fixtures of ``tests/services/cloud.py``)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterable

__all__ = ["run_limited", "unique_prefix"]


def unique_prefix(label: str) -> str:
    """A fresh prefix for one test's store in the session's bucket."""
    return f"{label}-{uuid.uuid4().hex[:10]}"


async def run_limited(
    items: Iterable[int], concurrency: int, work: Callable[[int], Awaitable[None]]
) -> None:
    """``work(item)`` for every item, at most ``concurrency`` at once."""
    queue = iter(items)

    async def worker() -> None:
        for item in queue:
            await work(item)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
