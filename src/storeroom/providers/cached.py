"""CachedProvider: read-through caching of any provider, itself a full provider.

Reads (``get``, ``read``, ``read_range``, ``head``, ``exists``, ``stream``)
are served from the cache when the object is there; a miss reads the whole
object once from the wrapped provider and caches it if it is no larger than
``max_object_size``. Many concurrent misses of one key cause one read of the
provider (single flight). Listings (``iter``, ``list``, ``list_dir``) always go
to the provider.

Every write that goes through it (``put``, ``write``, ``write_stream``,
``delete``, ``copy``, ``rename``) removes the affected keys from the cache,
even when the write fails (it may have landed). A read that was in flight
while a write of the same key went through returns what it read but does not
cache it, so a finished write is never followed by stale data from this
wrapper. Writes made around it (another process writing to the provider
directly) are seen only when the entry expires: choose ``ttl`` accordingly.

Entries are plain dicts of bytes, strings and numbers, so every cache
(memory, Redis with its safe serializer) can hold them.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from datetime import datetime
from typing import Any, Final

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

__all__ = ["CachedProvider"]

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
    ) -> None:
        if max_object_size < 0:
            raise ValueError("max_object_size must be >= 0")
        self.provider = provider
        self.cache = cache
        self.ttl = ttl
        self.max_object_size = max_object_size
        self.capabilities = provider.capabilities
        self._prefix = prefix
        self._close_inner = close_inner
        self._flight: SingleFlight[str, GetResult] = SingleFlight()

    def __repr__(self) -> str:
        return f"CachedProvider({self.provider!r}, {self.cache!r})"

    def _key(self, key: str) -> str:
        return self._prefix + key

    async def _cached(self, key: str) -> GetResult | None:
        """The object from the cache, or ``None`` if it is not there."""
        return decode_entry(await self.cache.get(self._key(key)))

    async def _invalidate(self, *keys: str) -> None:
        for key in keys:
            self._flight.forget(key)  # a read in flight must not cache what it read
            await self.cache.delete(key)

    # -- reads -----------------------------------------------------------------

    async def _get(self, key: str) -> GetResult:
        cache_key = self._key(key)
        found = decode_entry(await self.cache.get(cache_key))
        if found is not None:
            return found

        async def fetch() -> GetResult:
            fetched = await self.provider.get(key)
            if len(fetched.data) <= self.max_object_size and self._flight.is_current(cache_key):
                await self.cache.set(cache_key, encode_entry(fetched), self.ttl)  # type: ignore[arg-type]
            return fetched

        return await self._flight.run(cache_key, fetch)

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
        try:
            return await self.provider.put(
                key, data, mode=mode, content_type=content_type, metadata=metadata
            )
        finally:
            await self._invalidate(self._key(key))

    async def _write_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes] | Iterable[bytes],
        content_type: str | None,
        metadata: Mapping[str, str] | None,
    ) -> ObjectMeta:
        try:
            return await self.provider.write_stream(
                key, chunks, content_type=content_type, metadata=metadata
            )
        finally:
            await self._invalidate(self._key(key))

    async def _delete(self, key: str) -> None:
        try:
            await self.provider.delete(key)
        finally:
            await self._invalidate(self._key(key))

    async def _copy(self, src: str, dst: str, overwrite: bool) -> None:
        try:
            await self.provider.copy(src, dst, overwrite=overwrite)
        finally:
            await self._invalidate(self._key(dst))

    async def _rename(self, src: str, dst: str, overwrite: bool) -> None:
        try:
            await self.provider.rename(src, dst, overwrite=overwrite)
        finally:
            await self._invalidate(self._key(src), self._key(dst))

    async def aclose(self) -> None:
        """Close the wrapped provider and cache (unless ``close_inner=False``)."""
        if not self._close_inner:
            return
        try:
            await self.provider.aclose()
        finally:
            closer = getattr(self.cache, "aclose", None)
            if closer is not None:
                await closer()
