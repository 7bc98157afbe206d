"""``AsyncResource``: ``async with`` and ``aclose()``, written once.

Providers, caches and stores hold connections or files; each closes them in
``aclose()`` and inherits ``async with`` from here.
"""

from __future__ import annotations

from types import TracebackType
from typing import TypeVar

__all__ = ["AsyncResource"]

_R = TypeVar("_R", bound="AsyncResource")


class AsyncResource:
    """Something that holds resources until ``aclose()``; usable as ``async with``."""

    async def aclose(self) -> None:
        """Release what is held (nothing by default). Calling it twice is harmless."""

    async def __aenter__(self: _R) -> _R:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
