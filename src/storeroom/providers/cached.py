"""CachedProvider: read-through caching of any provider, itself a full provider.

Reads (``get``, ``read``, ``read_range``, ``head``, ``exists``, ``stream``)
are served from the cache when the object is there; a miss reads the whole
object once from the wrapped provider and caches it if it is no larger than
``max_object_size``. Many concurrent misses of one key cause one read of the
provider (single flight). Listings (``iter``, ``list``, ``list_dir``) always go
to the provider.

Every write that goes through it (``put``, ``write``, ``write_stream``,
``delete``, ``copy``, ``rename``) removes the affected keys from the cache once
the write has settled, even when it failed or was cancelled (it may have
landed). While a write of a key is under way, reads of that key are served
but never cached, and a read that was in flight when a write began or ended
does not cache what it read (:meth:`SingleFlight.store`). A cancelled ``put``,
``delete``, ``copy`` or ``rename`` is finished in the background (shielded):
its caller is released at once, and the cache is invalidated when the
provider is done, so a write that lands after its caller gave up never leaves
the old bytes behind (a cancelled ``write_stream`` is cancelled inside too,
as it reads the caller's chunks, and invalidated when it has stopped).
:meth:`aclose` waits for such writes. Writes made around it (another process
writing to the provider directly) are seen only when the entry expires:
choose ``ttl`` accordingly.

Entries are plain dicts of bytes, strings and numbers, so every cache
(memory, Redis with its safe serializer) can hold them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, TypeVar

from ..caches.base import MISSING, ttl_seconds
from ..caches.flight import SingleFlight
from ..interfaces import CacheBackend
from .base import (
    GetResult,
    Listing,
    ObjectMeta,
    Provider,
    PutMode,
    SkippedKey,
)

if TYPE_CHECKING:
    from ..caches.stampede import StampedeLock

__all__ = ["CachedProvider"]

_T = TypeVar("_T")

#: Objects larger than this are not cached unless told otherwise: 1 MiB.
DEFAULT_MAX_OBJECT_SIZE: Final = 1024 * 1024
_ENTRY_VERSION: Final = 1


def encode_entry(found: GetResult) -> dict[str, Any]:
    """A cache entry for ``found``, made only of types every serializer keeps."""
    meta = found.meta
    return {
        "v": _ENTRY_VERSION,
        "data": found.data,
        "path": meta.path,
        "size": meta.size,
        "modified": meta.modified.isoformat(),
        "etag": meta.etag,
        "content_type": meta.content_type,
        "metadata": dict(meta.metadata),
        "version": meta.version,
    }


def decode_entry(entry: Any) -> GetResult | None:
    """The object in a cache entry, or ``None`` if it is not one of ours."""
    if not isinstance(entry, dict) or entry.get("v") != _ENTRY_VERSION:
        return None
    meta = ObjectMeta(
        path=entry["path"],
        size=entry["size"],
        modified=datetime.fromisoformat(entry["modified"]),
        etag=entry["etag"],
        content_type=entry["content_type"],
        metadata=entry["metadata"],
        version=entry["version"],
    )
    return GetResult(bytes(entry["data"]), meta)


class CachedProvider(Provider):
    """Wraps ``provider`` with read-through caching in ``cache``.

    Args:
        provider: any storeroom provider.
        cache: any cache (storeroom's or another ``CacheBackend``).
        ttl: seconds an object stays cached (``0`` or ``None``: until invalidated).
        max_object_size: objects larger than this many bytes are never cached.
        prefix: put before every cache key, so several providers can share a cache.
        close_inner: whether :meth:`aclose` also closes ``provider`` and ``cache``.
        lock: a :class:`~storeroom.caches.stampede.StampedeLock`: when many
            processes miss one object, one reads it and the others wait for
            the cache (objects over ``max_object_size`` are then read one
            process at a time, as none is cached).
    """

    def __init__(
        self,
        provider: Provider,
        cache: CacheBackend,
        *,
        ttl: float | None = 300,
        max_object_size: int = DEFAULT_MAX_OBJECT_SIZE,
        prefix: str = "object:",
        close_inner: bool = True,
        lock: StampedeLock | None = None,
    ) -> None:
        if max_object_size < 0:
            raise ValueError("max_object_size must be >= 0")
        ttl_seconds(ttl)  # a ttl no cache takes is refused now, not at every read
        self.provider = provider
        self.cache = cache
        self.ttl = ttl
        self.max_object_size = max_object_size
        self.capabilities = provider.capabilities
        self._prefix = prefix
        self._close_inner = close_inner
        self.lock = lock
        self._flight: SingleFlight[str, GetResult] = SingleFlight()
        self._writing: dict[str, int] = {}  # key -> writes of it not yet settled
        self._settling: set[asyncio.Task[Any]] = set()

    def __repr__(self) -> str:
        return f"CachedProvider({self.provider!r}, {self.cache!r})"

    def _key(self, key: str) -> str:
        return self._prefix + key

    async def _cached(self, key: str) -> GetResult | None:
        """The object from the cache, or ``None`` if it is not there."""
        return decode_entry(await self.cache.get(self._key(key)))

    async def _write(
        self, keys: tuple[str, ...], operation: Awaitable[_T], *, finish: bool = True
    ) -> _T:
        """Run the write ``operation`` of ``keys``; invalidate them once it has settled.

        With ``finish`` the operation is shielded from the caller's
        cancellation and completes in the background; without it, it runs in
        the caller's task and is cancelled with it (never in a task of its own,
        which a cancellation could stop before its first step: its bookkeeping
        would never be undone). Either way the keys are invalidated after it
        stopped.
        """
        for key in keys:
            self._writing[key] = self._writing.get(key, 0) + 1
            self._flight.forget(key)  # a read in flight must not cache what it read
        if not finish:
            return await self._settle(keys, operation)
        task = asyncio.ensure_future(self._settle(keys, operation))
        self._settling.add(task)
        task.add_done_callback(self._settled)
        return await asyncio.shield(task)

    async def _settle(self, keys: tuple[str, ...], operation: Awaitable[_T]) -> _T:
        try:
            return await operation
        finally:
            try:
                for key in keys:
                    self._flight.forget(key)
                    await self.cache.delete(key)
            finally:
                for key in keys:
                    left = self._writing[key] - 1
                    if left:
                        self._writing[key] = left
                    else:
                        del self._writing[key]

    def _settled(self, task: asyncio.Task[Any]) -> None:
        self._settling.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved here: a shielded caller may have gone

    # -- reads -----------------------------------------------------------------

    async def _get(self, key: str) -> GetResult:
        cache_key = self._key(key)
        found = decode_entry(await self.cache.get(cache_key))
        if found is not None:
            return found

        async def fetch() -> GetResult:
            fetched = await self.provider.get(key)
            if len(fetched.data) <= self.max_object_size and cache_key not in self._writing:
                await self._flight.store(
                    cache_key, self.cache, cache_key, encode_entry(fetched), self.ttl
                )
            return fetched

        if self.lock is None:
            return await self._flight.run(cache_key, fetch)

        async def lookup() -> Any:
            cached = decode_entry(await self.cache.get(cache_key))
            return MISSING if cached is None else cached

        lock = self.lock
        return await self._flight.run(cache_key, lambda: lock.run(cache_key, lookup, fetch))

    async def _read_range(self, key: str, start: int, end: int | None) -> bytes:
        found = await self._cached(key)
        if found is not None:
            return found.data[start:end]
        return await self.provider.read_range(key, start, end)

    async def _head(self, key: str) -> ObjectMeta:
        found = await self._cached(key)
        return found.meta if found is not None else await self.provider.head(key)

    async def _stream(self, key: str, chunk_size: int) -> AsyncIterator[bytes]:
        found = await self._cached(key)
        if found is None:
            async for chunk in self.provider.stream(key, chunk_size):
                yield chunk
            return
        for start in range(0, len(found.data), chunk_size):
            yield found.data[start : start + chunk_size]

    # -- listings and folders: always the provider's ----------------------------

    def _iter(self, folder: str) -> AsyncIterator[ObjectMeta | SkippedKey]:
        return self.provider.scan(folder)

    async def _list_dir(self, folder: str) -> Listing:
        return await self.provider.list_dir(folder)

    async def _is_dir(self, folder: str) -> bool:
        return await self.provider.is_dir(folder)

    async def _makedirs(self, key: str) -> None:
        await self.provider.makedirs(key)

    async def _remove_folder(self, key: str) -> None:
        await self.provider.remove_folder(key)

    # -- writes: through to the provider, then invalidate -----------------------

    async def _put(
        self,
        key: str,
        data: bytes,
        mode: PutMode,
        content_type: str | None,
        metadata: Mapping[str, str] | None,
    ) -> ObjectMeta:
        return await self._write(
            (self._key(key),),
            self.provider.put(key, data, mode=mode, content_type=content_type, metadata=metadata),
        )

    async def _write_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes] | Iterable[bytes],
        content_type: str | None,
        metadata: Mapping[str, str] | None,
    ) -> ObjectMeta:
        return await self._write(
            (self._key(key),),
            self.provider.write_stream(key, chunks, content_type=content_type, metadata=metadata),
            finish=False,
        )

    async def _delete(self, key: str) -> None:
        await self._write((self._key(key),), self.provider.delete(key))

    async def _copy(self, src: str, dst: str, overwrite: bool) -> None:
        await self._write((self._key(dst),), self.provider.copy(src, dst, overwrite=overwrite))

    async def _rename(self, src: str, dst: str, overwrite: bool) -> None:
        keys = (self._key(src), self._key(dst))
        await self._write(keys, self.provider.rename(src, dst, overwrite=overwrite))

    async def aclose(self) -> None:
        """Wait for cancelled writes to settle, then close the wrapped provider and cache.

        (The provider and cache are left open with ``close_inner=False``.)
        """
        if self._settling:
            await asyncio.gather(*self._settling, return_exceptions=True)
        if not self._close_inner:
            return
        try:
            await self.provider.aclose()
        finally:
            closer = getattr(self.cache, "aclose", None)
            if closer is not None:
                await closer()
