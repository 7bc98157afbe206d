"""NoOpCache: caches nothing, so every lookup is a miss.

Use it to switch caching off without changing the code that uses a cache
(``storeroom.cache("none://")``). It still counts lookups and sets.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..options import reject_unknown, split_options
from .base import DEFAULT_TTL, Cache, ttl_seconds

__all__ = ["NoOpCache"]


class NoOpCache(Cache):
    """A cache that keeps nothing: ``get`` always returns its default."""

    retains_values: ClassVar[bool] = False

    @classmethod
    def from_url(cls, url: str, **options: Any) -> NoOpCache:
        """``none://``: takes no options."""
        url, options = split_options(url, options)
        reject_unknown(options, frozenset(), url)
        return cls()

    def __repr__(self) -> str:
        return "NoOpCache()"

    async def get(self, key: str, default: Any = None) -> Any:
        self._misses += 1
        return default

    async def set(self, key: str, value: Any, ttl: float | None = DEFAULT_TTL) -> None:
        ttl_seconds(ttl)  # the same argument rules as every cache
        self._sets += 1

    async def delete(self, key: str) -> None:
        self._deletes += 1

    async def clear(self) -> None:
        """Nothing to clear."""
