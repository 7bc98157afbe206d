"""Helpers of the cache tests: fresh caches of each kind, and exact comparison.

Every Redis cache made here lives under the run's random ``redis_namespace``
and is cleared (its own namespace only) and closed after the test.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from storeroom import MemoryProvider, Provider
from storeroom.caches import Cache, MemoryCache, NoOpCache, RedisCache, TieredCache
from storeroom.providers.cached import CachedProvider

__all__ = [
    "CACHE_KINDS",
    "assert_same",
    "make_cache",
    "open_cache",
    "open_cached_provider",
    "redis_cache_namespace",
    "require_retention",
]

#: Every cache the conformance suite runs on (Redis alone, as a Cluster, through
#: Sentinel, and with a near copy of hot keys in front of a server or a Cluster).
CACHE_KINDS = (
    "memory",
    "redis",
    "redis-cluster",
    "redis-sentinel",
    "redis-local",
    "redis-cluster-local",
    "noop",
)

#: The fixture that gives the URL of each Redis topology.
_REDIS_URL_FIXTURES = {
    "redis": "redis_url",
    "redis-cluster": "redis_cluster_url",
    "redis-sentinel": "redis_sentinel_url",
}


def redis_cache_namespace(request: pytest.FixtureRequest, label: str = "") -> str:
    """A fresh namespace under the run's ``redis_namespace``."""
    run: str = request.getfixturevalue("redis_namespace")
    return f"{run}-{label}{uuid.uuid4().hex[:8]}"


def make_cache(kind: str, request: pytest.FixtureRequest, **options: Any) -> Cache:
    """A fresh, empty cache of ``kind`` (a Redis one under the run's namespace)."""
    if kind == "memory":
        return MemoryCache(options.pop("max_entries", 100_000), **options)
    if kind == "noop":
        return NoOpCache()
    if kind in ("redis-local", "redis-cluster-local"):
        near = options.pop("max_entries", 1000)
        far = make_cache(kind.removesuffix("-local"), request, **options)
        assert isinstance(far, RedisCache)
        return TieredCache(far, max_entries=near)
    if kind in _REDIS_URL_FIXTURES:
        url: str = request.getfixturevalue(_REDIS_URL_FIXTURES[kind])
        namespace = options.pop("namespace", None) or redis_cache_namespace(request)
        return RedisCache(url, namespace=namespace, **options)
    raise ValueError(f"unknown cache kind {kind!r}")


@asynccontextmanager
async def open_cache(
    kind: str, request: pytest.FixtureRequest, **options: Any
) -> AsyncIterator[Cache]:
    """A fresh, empty cache of ``kind``, cleared and closed afterwards."""
    cache = make_cache(kind, request, **options)
    try:
        yield cache
    finally:
        try:
            await cache.clear()
        finally:
            await cache.aclose()


@asynccontextmanager
async def open_cached_provider(request: pytest.FixtureRequest) -> AsyncIterator[Provider]:
    """A CachedProvider over a fresh MemoryProvider, for the provider conformance suite."""
    inner = MemoryProvider(f"cached-{uuid.uuid4().hex[:8]}")
    async with CachedProvider(inner, MemoryCache()) as provider:
        yield provider


def require_retention(cache: Cache) -> None:
    """Skip unless ``cache`` keeps what is set in it, saying why."""
    if not cache.retains_values:
        pytest.skip(
            f"{type(cache).__name__} declares retains_values=False; "
            "this test reads back what it set"
        )


def assert_same(got: Any, want: Any) -> None:
    """``got`` equals ``want`` with exactly the same types, all the way down."""
    assert type(got) is type(want), f"{type(got).__name__} != {type(want).__name__}: {got!r}"
    if isinstance(want, float):
        if math.isnan(want):
            assert math.isnan(got)
        else:
            assert got == want
            assert math.copysign(1, got) == math.copysign(1, want)
    elif isinstance(want, list):
        assert len(got) == len(want)
        for left, right in zip(got, want, strict=True):
            assert_same(left, right)
    elif isinstance(want, dict):
        assert list(got) == list(want)
        assert [type(key) for key in got] == [type(key) for key in want]
        for key in want:
            assert_same(got[key], want[key])
    else:
        assert got == want
