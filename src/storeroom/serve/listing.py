"""The artifact list's snapshot: served at once, refreshed in the background, re-read
only where a head changed.

``ArtifactStore.list_artifacts`` reads every head on each call: right for a
one-off listing, too slow per page view of a store with 10,000 artifacts. The
server keeps one snapshot instead:

- it is served while younger than ``ttl`` (or, for a store whose refresh is
  slow, 20 times the last refresh's duration, so refreshing never takes more
  than a small share of the server's time); an older one is still served
  (stale while it revalidates) while one background task refreshes it;
- a refresh lists the ``heads/`` tree (one listing, no reads) and reads only
  the heads whose etag, size or time changed since the last refresh, with the
  same record functions as ``list_artifacts`` (``records.listing_entry``), so
  entries are identical to its;
- a write through this server calls :meth:`Snapshot.forget`: the next request
  waits for a fresh (incremental) refresh, and a refresh begun before the
  write is discarded (a generation number), so the writer sees its write;
- sort orders are computed once per snapshot and kept.

Without the catalog there is no index: this is still a scan, made cheap.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from ..artifactstore import ArtifactStore
from ..artifactstore.layout import HEADS, name_from_head_key
from ..artifactstore.records import Head, listing_entry
from ..concurrency import map_limited
from ..errors import NotFound

__all__ = ["Snapshot", "paced"]

_T = TypeVar("_T")
Entry = dict[str, Any]
#: Listed heads between two yields to the event loop during a refresh.
_YIELD_EVERY = 16
#: A refresh waits at least this many times its own last duration after the one before,
#: so refreshing a large store never takes more than a small share of the server's time.
_BACKOFF_FACTOR = 20
_Stamp = tuple[str | None, int, float]


async def paced(items: AsyncIterator[_T]) -> AsyncIterator[_T]:
    """``items``, yielding to the event loop every few items.

    A local provider's listing never awaits, so a scan of 10,000 heads would
    hold the loop (and every page view) until it ends; this lets the server
    answer requests while a refresh or the storage panel walks the store.
    """
    count = 0
    async for item in items:
        yield item
        count += 1
        if count % _YIELD_EVERY == 0:
            await asyncio.sleep(0)


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Mark a background refresh's failure as seen (the next request reads again)."""
    if not task.cancelled():
        task.exception()


class Snapshot:
    """Every artifact's listing entry, kept fresh within ``ttl`` seconds.

    Args:
        store: the artifact store listed.
        ttl: seconds a snapshot is served before a refresh starts.
    """

    def __init__(self, store: ArtifactStore, ttl: float) -> None:
        self.store = store
        self.ttl = ttl
        self._entries: list[Entry] | None = None
        self._read_at = 0.0
        self._refresh: asyncio.Task[list[Entry]] | None = None
        self._generation = 0
        self._known: dict[str, tuple[_Stamp, Entry | None]] = {}
        self._orders: dict[tuple[str, bool], list[Entry]] = {}
        self._scanning = asyncio.Lock()  # one scan at a time updates ``_known``
        self._scan_seconds = 0.0

    async def _scan(self, generation: int) -> list[Entry]:
        async with self._scanning:
            started = time.monotonic()
            try:
                return await self._scan_once(generation)
            finally:
                self._scan_seconds = time.monotonic() - started

    @property
    def interval(self) -> float:
        """Seconds a snapshot is served before a refresh: ``ttl``, or longer for a store
        whose refresh is slow (:data:`_BACKOFF_FACTOR` times its last duration)."""
        return max(self.ttl, _BACKOFF_FACTOR * self._scan_seconds)

    async def _scan_once(self, generation: int) -> list[Entry]:
        provider = self.store.provider
        stamps: dict[str, _Stamp] = {}
        async for meta in paced(provider.iter(HEADS)):
            if name_from_head_key(meta.path) is not None:
                stamps[meta.path] = (meta.etag, meta.size, meta.modified.timestamp())
        changed = [k for k, s in stamps.items() if k not in self._known or self._known[k][0] != s]

        async def load(key: str) -> tuple[str, Entry | None]:
            try:
                head = Head.from_json(await provider.read(key), key)
            except NotFound:  # deleted since it was listed
                return key, None
            return key, listing_entry(head, head.latest) if head.latest is not None else None

        for key, entry in await map_limited(load, changed, self.store.concurrency):
            self._known[key] = (stamps[key], entry)
        for key in set(self._known) - set(stamps):
            del self._known[key]
        entries = sorted(
            (entry for _, entry in self._known.values() if entry is not None),
            key=lambda e: str(e["name"]),
        )
        if generation == self._generation:  # no write through this server since it began
            self._entries, self._read_at, self._orders = entries, time.monotonic(), {}
        return entries

    async def entries(self) -> tuple[list[Entry], float]:
        """Every entry sorted by name, and the snapshot's age in seconds."""
        while True:
            current = self._entries
            stale = current is None or time.monotonic() - self._read_at > self.interval
            if stale and (self._refresh is None or self._refresh.done()):
                self._refresh = asyncio.create_task(self._scan(self._generation))
                self._refresh.add_done_callback(_retrieve)
            if current is not None:
                return current, time.monotonic() - self._read_at
            assert self._refresh is not None
            await asyncio.shield(self._refresh)
            if self._entries is not None:
                return self._entries, time.monotonic() - self._read_at
            # forgotten while it ran: read again, so a writer sees its write

    async def ordered(self, field: str, descending: bool) -> tuple[list[Entry], float]:
        """Every entry sorted by ``field`` (then name), computed once per snapshot."""
        entries, age = await self.entries()
        if field == "name" and not descending:
            return entries, age
        key = (field, descending)
        found = self._orders.get(key) if self._entries is entries else None
        if found is None:
            found = sorted(
                entries, key=lambda e: (e.get(field) or 0, e["name"]), reverse=descending
            )
            if self._entries is entries:
                self._orders[key] = found
        return found, age

    def forget(self) -> None:
        """Drop the snapshot (after a write through this server)."""
        self._generation += 1
        self._entries = None
        self._orders = {}
        self._refresh = None

    async def aclose(self) -> None:
        """Stop a refresh in flight."""
        task, self._refresh = self._refresh, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
