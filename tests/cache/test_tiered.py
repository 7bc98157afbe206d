"""TieredCache: hot keys served in process, never stale once Redis's invalidation arrived.

The conformance suite runs on it too (kind ``redis-local``). Here: the near
copy really saves round trips; another client's write is seen as soon as its
push arrives (and how long that takes is measured); a lost tracking
connection empties the near copy before anything is served from it.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as redis_asyncio

import storeroom
from storeroom.caches import RedisCache, TieredCache
from tests.cache.support import make_cache, redis_cache_namespace


@pytest.fixture
async def pair(request: pytest.FixtureRequest) -> AsyncIterator[tuple[TieredCache, RedisCache]]:
    """A tiered cache and a plain one (another client) on the same namespace."""
    namespace = redis_cache_namespace(request, "tiered-")
    tiered = TieredCache(make_cache("redis", request, namespace=namespace))  # type: ignore[arg-type]
    other = make_cache("redis", request, namespace=namespace)
    assert isinstance(other, RedisCache)
    assert await tiered.start()
    try:
        yield tiered, other
    finally:
        await other.clear()
        await other.aclose()
        await tiered.aclose()


async def test_hot_keys_are_served_without_a_round_trip(
    pair: tuple[TieredCache, RedisCache],
) -> None:
    tiered, other = pair
    await other.set("hot", {"v": 1})
    assert await tiered.get("hot") == {"v": 1}  # from Redis, then kept near
    before = tiered.far.writes
    for _ in range(100):
        assert await tiered.get("hot") == {"v": 1}
    assert tiered.far.writes == before


async def test_another_clients_write_is_never_served_after_its_push(
    pair: tuple[TieredCache, RedisCache],
) -> None:
    tiered, other = pair
    await other.set("k", 0)
    delays: list[float] = []
    for value in range(1, 101):
        assert await tiered.get("k") == value - 1  # the near copy holds the old value
        seen = tiered.invalidations
        started = time.perf_counter()
        await other.set("k", value)
        while tiered.invalidations == seen:  # the push has not arrived yet
            await asyncio.sleep(0)
            assert time.perf_counter() - started < 5, "no invalidation within 5 s"
        delays.append(time.perf_counter() - started)
        assert await tiered.get("k") == value  # never the stale value after the push
    delays.sort()
    print(
        f"write to invalidation push seen: median "
        f"{statistics.median(delays) * 1e3:.3f} ms, p99 {delays[98] * 1e3:.3f} ms"
    )


async def test_a_read_begun_before_tracking_was_live_is_not_kept_near(
    request: pytest.FixtureRequest,
) -> None:
    """Its reply may predate a write Redis never told us of (it was not tracking yet)."""
    namespace = redis_cache_namespace(request, "tiered-")
    far = make_cache("redis", request, namespace=namespace)
    other = make_cache("redis", request, namespace=namespace)
    assert isinstance(far, RedisCache)
    assert isinstance(other, RedisCache)
    tiered = TieredCache(far)
    handshake = tiered.tracker._open

    async def slow_handshake(endpoint: Any) -> Any:  # the read is sent before it ends
        await asyncio.sleep(0.2)
        return await handshake(endpoint)

    tiered.tracker._open = slow_handshake  # type: ignore[method-assign]
    try:
        await other.set("k", "old", ttl=60)
        read = far.get_expiring

        async def slow_reply(key: str, default: object = None) -> tuple[object, float | None]:
            found = await read(key, default)  # Redis answered "old", then, before we see it:
            await other.set("k", "new", ttl=60)  # another client writes (no push: untracked)
            assert await tiered.tracker.wait_live(5)  # and tracking goes live
            return found

        far.get_expiring = slow_reply  # type: ignore[method-assign]
        assert await tiered.get("k") == "old"  # (fine for the racing read itself)
        far.get_expiring = read  # type: ignore[method-assign]
        assert await tiered.get("k") == "new"
        assert await tiered.get("k") == "new"
    finally:
        await other.clear()
        await other.aclose()
        await tiered.aclose()


async def test_a_lost_tracking_connection_flushes_before_serving(
    pair: tuple[TieredCache, RedisCache], redis_url: str
) -> None:
    tiered, other = pair
    await other.set("k", "old")
    assert await tiered.get("k") == "old"
    assert len(tiered.near) == 1
    sessions = tiered.tracker.sessions
    raw = redis_asyncio.Redis.from_url(redis_url)
    try:
        ours = [c["id"] for c in await raw.client_list() if c.get("name") == tiered.tracker.name]
        assert len(ours) == 1
        # A write lands while tracking is down: the near copy must not answer.
        await raw.client_kill_filter(_id=ours[0])
        await other.set("k", "new")
        for _ in range(200):
            if not tiered.tracker.live:
                break
            await asyncio.sleep(0.005)
        assert len(tiered.near) == 0  # flushed as the loss was seen
        assert await tiered.get("k") == "new"
        for _ in range(400):  # it reconnects and serves near again
            if tiered.tracker.sessions > sessions and tiered.tracker.live:
                break
            await asyncio.sleep(0.01)
        assert tiered.tracker.live
        assert await tiered.get("k") == "new"
    finally:
        await raw.aclose()


async def test_local_option_makes_a_tiered_cache(
    redis_url: str, request: pytest.FixtureRequest
) -> None:
    namespace = redis_cache_namespace(request)
    cache = storeroom.cache(f"{redis_url}?namespace={namespace}&local=50")
    try:
        assert isinstance(cache, TieredCache)
        assert cache.near.max_entries == 50
    finally:
        await cache.aclose()
    with pytest.raises(storeroom.ConfigurationError, match="local"):
        storeroom.cache(f"{redis_url}?local=0")
