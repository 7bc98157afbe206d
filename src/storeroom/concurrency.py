"""Running coroutines side by side with a bound."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

__all__ = ["map_limited"]

_T = TypeVar("_T")
_R = TypeVar("_R")


async def map_limited(
    func: Callable[[_T], Awaitable[_R]], items: Sequence[_T], limit: int
) -> list[_R]:
    """``[await func(item) for item in items]`` with at most ``limit`` in flight, in order."""
    results: list[_R | None] = [None] * len(items)
    positions = iter(range(len(items)))

    async def worker() -> None:
        for index in positions:
            results[index] = await func(items[index])

    await asyncio.gather(*(worker() for _ in range(max(1, min(limit, len(items))))))
    return results  # type: ignore[return-value]
