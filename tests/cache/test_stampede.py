"""The stampede lock: one computation per key across OS processes; bounded waits; stale serving."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis.asyncio as redis_asyncio

from storeroom.caches import MISSING, MemoryCache, RedisCache, cached
from storeroom.caches.stampede import StampedeLock, jittered
from tests.cache.support import open_cache, redis_cache_namespace

ROOT = Path(__file__).resolve().parents[2]


async def test_many_processes_missing_one_key_compute_it_once(
    redis_url: str, request: pytest.FixtureRequest
) -> None:
    namespace = redis_cache_namespace(request, "stampede-")
    counter = f"{namespace}-computations"
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.cache.stampede_worker", redis_url, namespace, counter,
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )
        for _ in range(3)
    ]
    raw = redis_asyncio.Redis.from_url(redis_url)
    try:
        for worker in workers:  # every process is up before any calls
            assert worker.stdout is not None
            line = await asyncio.wait_for(worker.stdout.readline(), 60)
            assert line.strip() == b"ready"
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write(b"go\n")
            await worker.stdin.drain()
        outputs = [await asyncio.wait_for(worker.communicate(), 60) for worker in workers]
        results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
        assert int(await raw.get(counter) or 0) == 1  # one computation in all
        assert len({json.dumps(result["value"]) for result in results}) == 1  # one result
        assert sorted(result["computed"] for result in results) == [0, 0, 1]
        assert sum(result["waited"] for result in results) == 2
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()
        await raw.delete(counter)
        await raw.aclose()


async def test_a_lease_left_by_a_dead_holder_is_taken_after_it_expires(
    request: pytest.FixtureRequest,
) -> None:
    async with open_cache("redis", request) as cache:
        assert isinstance(cache, RedisCache)
        lock = StampedeLock(cache, lease=5, wait=10, poll=0.01)
        dead = cache.key("\x00lease\x00k")
        await cache.execute("SET", dead, "someone-dead", "PX", 300)  # never released
        calls = 0

        async def compute() -> int:
            nonlocal calls
            calls += 1
            await cache.set("k", 42)
            return 42

        started = time.monotonic()
        assert await lock.run("k", lambda: cache.get("k", MISSING), compute) == 42
        assert 0.2 < time.monotonic() - started < 3
        assert calls == 1
        assert await cache.execute("EXISTS", cache.key("\x00lease\x00k")) == 0  # released


async def test_waiting_is_bounded(request: pytest.FixtureRequest) -> None:
    async with open_cache("redis", request) as cache:
        assert isinstance(cache, RedisCache)
        lock = StampedeLock(cache, lease=30, wait=0.3, poll=0.01)
        await cache.execute("SET", cache.key("\x00lease\x00k"), "busy-elsewhere", "PX", 30_000)

        async def compute() -> str:
            return "computed here"

        started = time.monotonic()
        assert await lock.run("k", lambda: cache.get("k", MISSING), compute) == "computed here"
        assert 0.25 < time.monotonic() - started < 2


async def test_stale_entries_are_served_while_one_refresh_runs() -> None:
    cache = MemoryCache()
    version = 0

    @cached(cache, ttl=0.1, stale=10, key=lambda: "k")
    async def load() -> int:
        nonlocal version
        version += 1
        await asyncio.sleep(0.05)
        return version

    assert await load() == 1
    await asyncio.sleep(0.15)  # past the ttl, inside the stale window
    assert await asyncio.gather(*(load() for _ in range(10))) == [1] * 10  # stale, at once
    await asyncio.sleep(0.1)  # the one background refresh has stored 2
    assert version == 2
    assert await load() == 2


def test_ttl_jitter_spreads_expiry() -> None:
    spread = {jittered(100, 0.1) for _ in range(200)}
    assert len(spread) > 100
    assert all(90 <= ttl <= 110 for ttl in spread if ttl is not None)
    assert jittered(100, 0) == 100
    assert jittered(None, 0.1) is None
    with pytest.raises(ValueError, match="jitter"):
        cached(MemoryCache(), jitter=1.5)(_noop)
    with pytest.raises(ValueError, match="stale"):
        cached(MemoryCache(), ttl=0, stale=5)(_noop)


async def _noop() -> None:
    return None


async def test_cached_provider_takes_the_lock(request: pytest.FixtureRequest) -> None:
    from storeroom import MemoryProvider
    from storeroom.providers.cached import CachedProvider

    async with open_cache("redis", request) as cache:
        assert isinstance(cache, RedisCache)
        inner = MemoryProvider(f"lock-{uuid.uuid4().hex[:6]}")
        await inner.write("a", b"bytes")
        lock = StampedeLock(cache, lease=5, wait=5, poll=0.01)
        provider = CachedProvider(inner, cache, lock=lock, close_inner=False)
        assert await provider.read("a") == b"bytes"
        assert lock.computed == 1
        assert await provider.read("a") == b"bytes"  # now from the cache
        assert lock.computed == 1
