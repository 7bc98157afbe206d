"""What every storeroom cache shares: the seed's ``CacheBackend`` plus the extras.

:class:`Cache` implements the seed's four methods (``get``, ``set``, ``delete``,
``clear``) and adds, written once here:

- telling a cached ``None`` from a miss: ``get(key, default)`` returns
  ``default`` (``None`` unless given) on a miss, so ``get(key, MISSING)`` is
  :data:`MISSING` exactly when nothing is cached;
- ``ttl`` in seconds, ``int`` or ``float``; ``0`` or ``None`` means no expiry,
  a negative ``ttl`` is a ``ValueError``;
- ``get_many`` / ``set_many`` / ``delete_many`` (backends override them where
  they can do better, as Redis does with one round trip);
- :meth:`Cache.stats`, a frozen :class:`CacheStats`;
- ``aclose()`` and ``async with``;
- truthiness: every cache is true, even an empty one that defines ``__len__``
  (callers guard with ``if self._cache:``, as vibex does, and an empty cache
  must not switch caching off).

Keys are any ``str``: a cache key is not a storage path, so the key rules of
:mod:`storeroom.paths` do not apply.
"""

from __future__ import annotations

import enum
import math
from abc import abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from ..interfaces import CacheBackend
from ..resource import AsyncResource

__all__ = [
    "DEFAULT_TTL",
    "MISSING",
    "Cache",
    "CacheStats",
    "Missing",
    "item_pairs",
    "ttl_seconds",
]


#: The ``ttl`` of the seed's ``set``: five minutes.
DEFAULT_TTL: Final = 300


class Missing(enum.Enum):
    """The type of :data:`MISSING` (an enum, so it is one value and type-checks)."""

    MISSING = "MISSING"

    def __repr__(self) -> str:
        return "MISSING"


#: Pass as ``get``'s default to tell a miss from a cached ``None``.
MISSING: Final = Missing.MISSING


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Counts since the cache was made.

    Attributes:
        hits: lookups that found a live entry.
        misses: lookups that found nothing (or only an expired entry).
        sets: entries stored.
        deletes: ``delete`` calls (whether or not the key existed).
        evictions: live entries dropped to respect a size bound.
        expirations: expired entries removed (when met or when room was needed).
        errors: backend failures absorbed by ``fail_open`` (each also logged).
        rejected: stored entries refused on read (bad signature or format).
    """

    hits: int = 0
    misses: int = 0
    sets: int = 0
    deletes: int = 0
    evictions: int = 0
    expirations: int = 0
    errors: int = 0
    rejected: int = 0

    @property
    def hit_ratio(self) -> float:
        """``hits / (hits + misses)``, or ``0.0`` before any lookup."""
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0


def ttl_seconds(ttl: float | None) -> float | None:
    """The expiry of ``ttl`` in seconds, or ``None`` for "never" (``0`` or ``None``).

    Raises:
        ValueError: ``ttl`` is negative, NaN or infinite (``None`` says "never").
    """
    if ttl is None or ttl == 0:
        return None
    if not 0 < ttl < math.inf:  # (NaN fails every comparison)
        raise ValueError(
            f"ttl must be a finite number of seconds >= 0 (0 or None: no expiry), not {ttl!r}"
        )
    return float(ttl)


def item_pairs(items: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> Iterable[tuple[str, Any]]:
    """The ``(key, value)`` pairs of a mapping or of an iterable of pairs."""
    return items.items() if isinstance(items, Mapping) else items


class Cache(CacheBackend, AsyncResource):
    """Base of storeroom's caches: the seed's ``CacheBackend`` and the extras.

    Subclasses implement ``get``, ``set``, ``delete`` and ``clear``, and count
    what they do in the ``_hits``, ``_misses``, ... attributes that
    :meth:`stats` reports; the batch methods here call them one key at a time.
    """

    #: Whether a value set can be read back. ``NoOpCache`` says ``False``;
    #: the conformance suite selects its tests by this.
    retains_values: ClassVar[bool] = True

    def __init__(self) -> None:
        self._hits = self._misses = self._sets = self._deletes = 0
        self._evictions = self._expirations = self._errors = self._rejected = 0

    @abstractmethod
    async def get(self, key: str, default: Any = None) -> Any:
        """The live value cached at ``key``, or ``default`` on a miss.

        Args:
            key: any string.
            default: returned on a miss; pass :data:`MISSING` to tell a
                cached ``None`` from a miss.
        """

    @abstractmethod
    async def set(self, key: str, value: Any, ttl: float | None = DEFAULT_TTL) -> None:
        """Cache ``value`` at ``key`` for ``ttl`` seconds (``0`` or ``None``: no expiry)."""

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""

    @abstractmethod
    async def clear(self) -> None:
        """Remove every entry of this cache (and nothing outside it)."""

    def __bool__(self) -> bool:
        """Always ``True``: a cache is there even when it holds nothing."""
        return True

    def stats(self) -> CacheStats:
        """The counts so far, as one consistent snapshot."""
        return CacheStats(
            hits=self._hits,
            misses=self._misses,
            sets=self._sets,
            deletes=self._deletes,
            evictions=self._evictions,
            expirations=self._expirations,
            errors=self._errors,
            rejected=self._rejected,
        )

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """The live entries among ``keys``: misses are absent, a cached ``None`` is present."""
        found: dict[str, Any] = {}
        for key in keys:
            value = await self.get(key, MISSING)
            if value is not MISSING:
                found[key] = value
        return found

    async def set_many(
        self,
        items: Mapping[str, Any] | Iterable[tuple[str, Any]],
        ttl: float | None = DEFAULT_TTL,
    ) -> None:
        """Cache every ``(key, value)`` of ``items`` with the same ``ttl``."""
        for key, value in item_pairs(items):
            await self.set(key, value, ttl)

    async def delete_many(self, keys: Iterable[str]) -> None:
        """Remove every key of ``keys``."""
        for key in keys:
            await self.delete(key)

