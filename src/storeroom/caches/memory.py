"""MemoryCache: an LRU-bounded, TTL-aware cache in process memory.

The hot path is one ``OrderedDict`` lookup, one ``move_to_end`` and, only for
entries that have a TTL, one read of the monotonic clock. Each method runs to
completion without awaiting, so it is atomic with respect to other tasks and
needs no lock (the cache is for one event loop thread at a time).

Expired entries are never returned. When an insert needs room, expired entries
are reclaimed first and only then are live ones evicted, least recently used
first. Finding the expired entries costs ``set`` one comparison: a heap of
deadlines is built only when room is needed, and rebuilt (one pass over the
entries) only once an entry set since the last build may have expired, so at
most once per shortest TTL in use, and never without eviction pressure.
"""

from __future__ import annotations

import heapq
import math
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from ..options import option_float, reject_unknown, split_options
from .base import DEFAULT_TTL, Cache, ttl_seconds

__all__ = ["MemoryCache", "approximate_size"]

#: Entry: (value, deadline on the monotonic clock or 0.0 for none, size in bytes).
_Entry = tuple[Any, float, int]

_OPTIONS = frozenset({"max_entries", "max_bytes"})


def approximate_size(value: Any) -> int:
    """A cheap estimate of the memory ``value`` holds, in bytes.

    Exact for ``bytes``-like and ``str`` (their length); containers add their
    items' estimates one level deep; anything else is ``sys.getsizeof``. Pass
    your own ``sizeof`` to :class:`MemoryCache` when this is too rough.
    """
    if isinstance(value, (bytes, bytearray, memoryview, str)):
        return len(value)
    size = sys.getsizeof(value)
    if isinstance(value, dict):
        size += sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in value.items())
    elif isinstance(value, (list, tuple, set, frozenset)):
        size += sum(sys.getsizeof(item) for item in value)
    return size


class MemoryCache(Cache):
    """A cache in a dict: LRU bound on entries (and optionally bytes), TTL per entry.

    Values are kept by reference, as in a ``dict``: mutating a cached object
    mutates the cached entry.

    Args:
        max_entries: most entries kept; the least recently used live entry is
            evicted beyond it (after expired ones are reclaimed).
        max_bytes: optional bound on the sum of ``sizeof(value)``; a value
            larger than the whole bound is not cached.
        sizeof: size estimate used for ``max_bytes`` (default
            :func:`approximate_size`).
        clock: monotonic clock in seconds (tests pass a fake one).
    """

    def __init__(
        self,
        max_entries: int = 10_000,
        *,
        max_bytes: int | None = None,
        sizeof: Callable[[Any], int] = approximate_size,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        if max_bytes is not None and max_bytes < 1:
            raise ValueError("max_bytes must be at least 1 (or None for no bound)")
        super().__init__()
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._sizeof = sizeof if max_bytes is not None else None
        self._byte_limit = max_bytes if max_bytes is not None else sys.maxsize
        self._clock = clock
        self._data: OrderedDict[str, _Entry] = OrderedDict()
        # Deadlines of the entries present at the last index build, as a heap,
        # and the earliest deadline of the entries set since (not in the heap).
        self._deadlines: list[tuple[float, str]] = []
        self._unindexed = math.inf
        self._bytes = 0

    @classmethod
    def from_url(cls, url: str, **options: Any) -> MemoryCache:
        """``memory://?max_entries=10000&max_bytes=...``: a fresh, empty cache."""
        url, options = split_options(url, options)
        reject_unknown(options, _OPTIONS, url)
        max_entries = option_float("max_entries", options.get("max_entries"))
        max_bytes = option_float("max_bytes", options.get("max_bytes"))
        return cls(
            int(max_entries) if max_entries is not None else 10_000,
            max_bytes=int(max_bytes) if max_bytes is not None else None,
        )

    def __repr__(self) -> str:
        return f"MemoryCache(max_entries={self.max_entries}, max_bytes={self.max_bytes})"

    def __len__(self) -> int:
        """Entries held, expired ones not yet reclaimed included."""
        return len(self._data)

    @property
    def size_bytes(self) -> int:
        """The sum of the sizes of the entries held (``0`` without ``max_bytes``)."""
        return self._bytes

    async def get(self, key: str, default: Any = None) -> Any:
        entry = self._data.get(key)
        if entry is None:
            self._misses += 1
            return default
        deadline = entry[1]
        if deadline and deadline <= self._clock():
            self._remove(key, entry)
            self._expirations += 1
            self._misses += 1
            return default
        self._data.move_to_end(key)
        self._hits += 1
        return entry[0]

    async def set(self, key: str, value: Any, ttl: float | None = DEFAULT_TTL) -> None:
        if not ttl:
            deadline = 0.0
        elif 0 < ttl < math.inf:
            deadline = self._clock() + ttl
            if deadline < self._unindexed:
                self._unindexed = deadline
        else:
            deadline = 0.0
            ttl_seconds(ttl)  # raises: a negative, NaN or infinite ttl
        if self._sizeof is not None:
            self._set_sized(key, value, deadline)
            return
        data = self._data
        data[key] = (value, deadline, 0)
        data.move_to_end(key)
        self._sets += 1
        if len(data) > self.max_entries:
            self._make_room()

    def _set_sized(self, key: str, value: Any, deadline: float) -> None:
        """``set`` with ``max_bytes``: the size of every entry is kept and summed."""
        assert self._sizeof is not None
        size = self._sizeof(value)
        old = self._data.pop(key, None)
        if old is not None:
            self._bytes -= old[2]
        if size > self._byte_limit:
            return  # larger than the whole bound: keeping it would evict everything
        self._data[key] = (value, deadline, size)
        self._bytes += size
        self._sets += 1
        if len(self._data) > self.max_entries or self._bytes > self._byte_limit:
            self._make_room()

    async def delete(self, key: str) -> None:
        self._deletes += 1
        self.discard(key)

    async def clear(self) -> None:
        self.discard_all()

    def discard(self, key: str) -> None:
        """Remove ``key`` now (not awaited: a layer above calls it from a callback)."""
        entry = self._data.pop(key, None)
        if entry is not None:
            self._bytes -= entry[2]

    def discard_all(self) -> None:
        """Remove every entry now (not awaited, like :meth:`discard`)."""
        self._data.clear()
        self._deadlines = []
        self._unindexed = math.inf
        self._bytes = 0

    def _remove(self, key: str, entry: _Entry) -> None:
        del self._data[key]
        self._bytes -= entry[2]

    def _reclaim_expired(self) -> None:
        """Drop every entry whose deadline has passed."""
        now = self._clock()
        if now >= self._unindexed:
            self._reindex(now)
            return
        heap = self._deadlines
        data = self._data
        while heap and heap[0][0] <= now:
            _, key = heapq.heappop(heap)
            entry = data.get(key)
            # The record may be stale (key deleted or set again): check the entry itself.
            if entry is not None and entry[1] and entry[1] <= now:
                self._remove(key, entry)
                self._expirations += 1

    def _reindex(self, now: float) -> None:
        """One pass: drop the expired entries, heap the deadlines of the rest."""
        expired = [key for key, entry in self._data.items() if entry[1] and entry[1] <= now]
        for key in expired:
            self._remove(key, self._data[key])
        self._expirations += len(expired)
        self._deadlines = [(entry[1], key) for key, entry in self._data.items() if entry[1]]
        heapq.heapify(self._deadlines)
        self._unindexed = math.inf

    def _make_room(self) -> None:
        """Reclaim expired entries, then evict least recently used ones until within bounds."""
        self._reclaim_expired()
        data = self._data
        while len(data) > self.max_entries or self._bytes > self._byte_limit:
            _, entry = data.popitem(last=False)
            self._bytes -= entry[2]
            self._evictions += 1
