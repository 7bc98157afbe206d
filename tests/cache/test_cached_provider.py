"""CachedProvider over MemoryProvider and LocalProvider, with memory and Redis caches.

"Served from the cache" is shown by changing the wrapped provider behind the
wrapper's back: the wrapper still returns what it cached until a write through
it invalidates the key.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from storeroom import InvalidPath, MemoryProvider, NotFound, Provider
from storeroom.caches import Cache, MemoryCache
from storeroom.providers.base import GetResult, ObjectMeta
from storeroom.providers.cached import CachedProvider, decode_entry, encode_entry
from storeroom.providers.local import LocalProvider
from tests.cache.support import open_cache


@pytest.fixture(params=["memory", "local"])
async def inner(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Provider]:
    """The wrapped provider."""
    provider: Provider = (
        MemoryProvider("inner") if request.param == "memory" else LocalProvider(tmp_path / "root")
    )
    async with provider:
        yield provider


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    async with open_cache(request.param, request) as fresh:
        yield fresh


@pytest.fixture
def cached(inner: Provider, cache: Cache) -> CachedProvider:
    return CachedProvider(inner, cache, max_object_size=1024, close_inner=False)


async def test_reads_are_served_from_the_cache(cached: CachedProvider, inner: Provider) -> None:
    await cached.write("a/b.txt", b"first")
    assert await cached.read("a/b.txt") == b"first"
    await inner.write("a/b.txt", b"changed behind its back")
    assert await cached.read("a/b.txt") == b"first"
    assert (await cached.get("a/b.txt")).meta.size == 5
    assert (await cached.head("a/b.txt")).size == 5
    assert await cached.read_range("a/b.txt", 1, 3) == b"ir"
    assert await cached.exists("a/b.txt")
    assert [chunk async for chunk in cached.stream("a/b.txt", chunk_size=2)] == [
        b"fi", b"rs", b"t"
    ]


async def test_a_cache_miss_reads_through(cached: CachedProvider, inner: Provider) -> None:
    await inner.write("k", b"from the provider")
    assert await cached.read_range("k", 0, 4) == b"from"  # not cached: passed through
    assert (await cached.head("k")).size == 17
    assert [chunk async for chunk in cached.stream("k", 8)] == [b"from the", b" provide", b"r"]
    assert await cached.read("k") == b"from the provider"


async def test_every_write_through_it_invalidates(cached: CachedProvider, inner: Provider) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"stre"
        yield b"amed"

    await cached.write("k", b"v1")
    assert await cached.read("k") == b"v1"
    await cached.put("k", b"v2")
    assert await cached.read("k") == b"v2"
    await cached.write_stream("k", chunks())
    assert await cached.read("k") == b"streamed"
    await cached.write("src", b"source")
    await cached.copy("src", "k")
    assert await cached.read("k") == b"source"
    await cached.write("other", b"other")
    assert await cached.read("other") == b"other"
    await cached.rename("k", "other")
    assert await cached.read("other") == b"source"
    with pytest.raises(NotFound):
        await cached.read("k")
    await cached.delete("other")
    with pytest.raises(NotFound):
        await cached.read("other")
    assert not await cached.exists("other")
    assert await inner.list() == ["src"]


async def test_a_failed_write_still_invalidates(cached: CachedProvider, inner: Provider) -> None:
    await cached.write("k", b"v1")
    assert await cached.read("k") == b"v1"
    await inner.write("k", b"v2")  # behind its back
    with pytest.raises(FileExistsError):
        await cached.put("k", b"never", mode="create")
    assert await cached.read("k") == b"v2"


async def test_objects_over_the_size_limit_are_not_cached(
    cached: CachedProvider, inner: Provider
) -> None:
    await cached.write("big", b"x" * 1025)
    assert await cached.read("big") == b"x" * 1025
    await inner.write("big", b"y" * 1025)
    assert await cached.read("big") == b"y" * 1025
    await cached.write("fits", b"x" * 1024)
    await cached.read("fits")
    await inner.write("fits", b"changed")
    assert await cached.read("fits") == b"x" * 1024


async def test_listings_go_to_the_provider(cached: CachedProvider, inner: Provider) -> None:
    await cached.write("d/one", b"1")
    await inner.write("d/two", b"2")
    await cached.makedirs("e/f")
    assert await cached.list("d") == ["d/one", "d/two"]
    assert [meta.path async for meta in cached.iter("d")] == ["d/one", "d/two"]
    listing = await cached.list_dir("")
    assert listing.folders == ("d/", "e/")
    assert await cached.is_dir("e")
    assert cached.capabilities == inner.capabilities


async def test_missing_and_invalid_keys(cached: CachedProvider) -> None:
    with pytest.raises(NotFound):
        await cached.get("absent")
    with pytest.raises(NotFound):
        await cached.head("absent")
    assert not await cached.exists("absent")
    for bad in ("", "/abs", "a/../b"):
        with pytest.raises(InvalidPath):
            await cached.read(bad)
        with pytest.raises(InvalidPath):
            await cached.write(bad, b"x")
    with pytest.raises(ValueError, match="range"):
        await cached.read_range("absent", 5, 2)


@pytest.mark.parametrize("ttl", [-1, float("nan"), float("inf")])
def test_a_ttl_no_cache_takes_is_refused_when_made(ttl: float) -> None:
    with pytest.raises(ValueError, match="ttl"):
        CachedProvider(MemoryProvider(), MemoryCache(), ttl=ttl)


def test_entries_round_trip_through_plain_types() -> None:
    assert decode_entry(None) is None
    assert decode_entry({"v": 999}) is None
    assert decode_entry("not a dict") is None


# -- concurrency: one fetch per key, no stale entry after a write --------------------


class CountingProvider(MemoryProvider):
    """A MemoryProvider whose ``get`` counts calls and can be held at a gate."""

    def __init__(self) -> None:
        super().__init__("counting")
        self.gets = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def get(self, path: str) -> GetResult:
        self.gets += 1
        found = await super().get(path)  # read first: what a slow backend would return
        await self.gate.wait()
        await asyncio.sleep(0.01)
        return found


async def test_concurrent_misses_cause_one_read() -> None:
    inner = CountingProvider()
    await inner.write("hot", b"value")
    cached = CachedProvider(inner, MemoryCache())
    results = await asyncio.gather(*(cached.read("hot") for _ in range(50)))
    assert results == [b"value"] * 50
    assert inner.gets == 1
    assert await cached.read("hot") == b"value"
    assert inner.gets == 1


async def test_a_read_in_flight_during_a_write_is_not_cached() -> None:
    inner = CountingProvider()
    await inner.write("k", b"old")
    cached = CachedProvider(inner, MemoryCache())
    inner.gate.clear()
    reader = asyncio.ensure_future(cached.read("k"))
    await asyncio.sleep(0.01)  # the read has fetched b"old" and waits at the gate
    await cached.write("k", b"new")
    inner.gate.set()
    assert await reader == b"old"  # it began before the write
    assert await cached.read("k") == b"new"  # and left nothing stale behind


async def test_a_failed_fetch_reaches_every_waiter_and_is_not_cached() -> None:
    inner = CountingProvider()
    cached = CachedProvider(inner, MemoryCache())
    results = await asyncio.gather(*(cached.read("nope") for _ in range(5)), return_exceptions=True)
    assert all(isinstance(result, NotFound) for result in results)
    await inner.write("nope", b"now here")
    assert await cached.read("nope") == b"now here"


async def test_aclose_closes_what_it_wraps_unless_told_not_to() -> None:
    cache = MemoryCache()
    async with CachedProvider(MemoryProvider(), cache) as cached:
        await cached.write("k", b"v")
        assert "MemoryCache" in repr(cached)
    keep = CachedProvider(MemoryProvider(), cache, close_inner=False)
    await keep.aclose()
    with pytest.raises(ValueError, match="max_object_size"):
        CachedProvider(MemoryProvider(), cache, max_object_size=-1)


async def test_metadata_survives_the_cache(cache: Cache) -> None:
    inner = MemoryProvider()
    cached = CachedProvider(inner, cache)
    meta = await cached.put("k", b"data", content_type="text/plain", metadata={"a": "b"})
    first = await cached.get("k")  # from the provider, now cached
    second = await cached.get("k")  # from the cache
    assert first == second
    assert second.meta == meta
    assert decode_entry(encode_entry(second)) == second


class LateLandingProvider(MemoryProvider):
    """A provider whose ``put``, once cancelled, still lands later (as a thread would)."""

    def __init__(self) -> None:
        super().__init__("late")
        self.gate = asyncio.Event()
        self.gate.set()

    async def put(self, path: str, data: bytes, **options: Any) -> ObjectMeta:
        async def land() -> ObjectMeta:
            await self.gate.wait()
            return await MemoryProvider.put(self, path, data, **options)

        return await asyncio.shield(asyncio.ensure_future(land()))


async def test_a_cancelled_put_that_lands_later_leaves_nothing_stale(cache: Cache) -> None:
    inner = LateLandingProvider()
    await inner.put("k", b"old")
    cached = CachedProvider(inner, cache, close_inner=False)
    assert await cached.read("k") == b"old"  # now cached
    inner.gate.clear()
    writer = asyncio.ensure_future(cached.put("k", b"new"))
    await asyncio.sleep(0.01)
    writer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writer
    assert await cached.read("k") == b"old"  # not landed yet: read, but not cached again
    inner.gate.set()
    await cached.aclose()  # waits for the cancelled write to settle
    assert await inner.read("k") == b"new"
    assert await cached.read("k") == b"new"


async def test_a_cancelled_put_under_a_timeout_leaves_nothing_stale(cache: Cache) -> None:
    inner = LateLandingProvider()
    await inner.put("k", b"old")
    cached = CachedProvider(inner, cache, close_inner=False)
    assert await cached.read("k") == b"old"
    inner.gate.clear()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(cached.put("k", b"new"), 0.01)
    readers = [asyncio.ensure_future(cached.read("k")) for _ in range(5)]
    await asyncio.sleep(0.01)
    inner.gate.set()
    assert set(await asyncio.gather(*readers)) <= {b"old", b"new"}
    await cached.aclose()
    assert await cached.read("k") == b"new"


@pytest.mark.parametrize("turns", [1, 2, 3])
async def test_a_write_stream_cancelled_as_it_starts_leaves_the_key_cacheable(
    cached: CachedProvider, inner: Provider, turns: int
) -> None:
    """Cancelled before its write could begin (or just after), the key is read
    and cached as usual afterwards: nothing is left marked as being written."""
    await inner.write("k", b"old")
    writer = asyncio.ensure_future(cached.write_stream("k", [b"new"]))
    for _ in range(turns):
        await asyncio.sleep(0)
    writer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await writer
    content = await inner.read("k")
    assert content in (b"old", b"new")  # whole or not at all
    assert await cached.read("k") == content
    await inner.write("k", b"changed behind its back")
    assert await cached.read("k") == content  # cached again: served from the cache
