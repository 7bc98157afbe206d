"""TieredCache: a bounded near copy of hot keys in front of a Redis cache.

``TieredCache(far)`` (or ``?local=10000`` on a Redis URL) keeps up to
``max_entries`` recently read entries in process memory (a
:class:`~.memory.MemoryCache`) and serves them without a round trip. It stays
correct because Redis tells it of every change (:mod:`.tracking`: RESP3
client tracking, ``BCAST`` on the namespace prefix):

- an invalidation push removes the key from the near copy as it arrives;
- the near copy serves only while tracking is live; when the tracking
  connection drops it is flushed first, then refilled after reconnection;
- a value read from Redis is kept near only if no invalidation of that key
  (and no flush) arrived while it was being read, so a read that raced a
  write never plants the old value;
- this cache's own ``set`` and ``delete`` go to Redis and drop the near copy
  (the next read fills it), so its own writes need no push to be seen;
- a near entry expires when its Redis entry does (``PTTL`` is read with the
  value, in the same round trip).

So a change made by any client is never served from the near copy after
its invalidation has arrived here; before that, the near copy may be as old
as the push delay (typically well under a millisecond on a LAN; the test
suite measures it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .base import DEFAULT_TTL, MISSING, Cache
from .memory import MemoryCache
from .redis import RedisCache

__all__ = ["TieredCache"]


class TieredCache(Cache):
    """A near in-process copy of hot keys in front of ``far``, kept correct by tracking.

    Args:
        far: the Redis cache (a server, Sentinel or a cluster).
        max_entries: most keys kept near (least recently used evicted first).
        near_ttl: seconds a near entry is kept at most (``None``: as long as
            tracking says it is current).
        close_far: whether :meth:`aclose` also closes ``far``.
    """

    def __init__(
        self,
        far: RedisCache,
        *,
        max_entries: int = 10_000,
        near_ttl: float | None = None,
        close_far: bool = True,
    ) -> None:
        super().__init__()
        self.far = far
        self.near = MemoryCache(max_entries)
        self._near_ttl = near_ttl
        self._close_far = close_far
        self._prefix = far.key("").encode()
        self._reading: dict[str, list[int]] = {}  # key -> [readers, invalidated]
        self._flushes = 0
        #: Invalidation pushes received (keys), and flushes (losses included).
        self.invalidations = 0
        self.tracker = far.tracker(on_keys=self._invalidated, on_lost=self._flush)

    def __repr__(self) -> str:
        return f"TieredCache({self.far!r}, max_entries={self.near.max_entries})"

    def _invalidated(self, keys: list[bytes]) -> None:
        size = len(self._prefix)
        for raw in keys:
            if not raw.startswith(self._prefix):
                continue
            key = raw[size:].decode(errors="surrogateescape")
            self.near.discard(key)
            reading = self._reading.get(key)
            if reading is not None:
                reading[1] = 1
            self.invalidations += 1

    def _flush(self) -> None:
        self.near.discard_all()
        self._flushes += 1

    async def get(self, key: str, default: Any = None) -> Any:
        tracked = self.tracker.live  # a read begun untracked is never kept near
        if tracked:
            found = await self.near.get(key, MISSING)
            if found is not MISSING:
                self._hits += 1
                return found
        else:
            self.tracker.start()
        reading = self._reading.setdefault(key, [0, 0])
        reading[0] += 1
        flushes = self._flushes
        try:
            value, left = await self.far.get_expiring(key, MISSING)
        finally:
            reading[0] -= 1
            if not reading[0]:
                del self._reading[key]
        if value is MISSING:
            self._misses += 1
            return default
        self._hits += 1
        # Kept near only if tracking covered the whole read: live when it began (so
        # Redis tracks the key), still live, no invalidation of it and no flush since.
        if tracked and self.tracker.live and not reading[1] and flushes == self._flushes:
            ttls = [ttl for ttl in (left, self._near_ttl) if ttl]
            await self.near.set(key, value, min(ttls) if ttls else None)
        return value

    async def set(self, key: str, value: Any, ttl: float | None = DEFAULT_TTL) -> None:
        self.near.discard(key)
        try:
            await self.far.set(key, value, ttl)
        finally:
            self.near.discard(key)
        self._sets += 1

    async def delete(self, key: str) -> None:
        self.near.discard(key)
        self._deletes += 1
        await self.far.delete(key)

    async def clear(self) -> None:
        self._flush()
        await self.far.clear()

    async def delete_many(self, keys: Iterable[str]) -> None:
        wanted = list(keys)
        for key in wanted:
            self.near.discard(key)
        self._deletes += len(wanted)
        await self.far.delete_many(wanted)

    async def start(self, timeout: float = 5.0) -> bool:
        """Start tracking now (else the first read does); whether it is live within ``timeout``."""
        return await self.tracker.wait_live(timeout)

    async def aclose(self) -> None:
        """Stop tracking (the near copy is flushed) and close ``far`` unless told not to."""
        await self.tracker.aclose()
        if self._close_far:
            await self.far.aclose()
