"""One suite for every cache: memory, Redis (the real server) and no-op.

Tests that read back what they set select themselves by the declared
behaviour ``retains_values`` (``NoOpCache`` declares ``False`` and gets its own
test instead); nothing is selected by the cache's name. Expiry tests sleep a
little past short TTLs: they check what expiry does, never how fast anything is.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

import storeroom
from storeroom.caches import MISSING, Cache, MemoryCache, NoOpCache, RedisCache
from tests.cache.support import (
    CACHE_KINDS,
    assert_same,
    make_cache,
    open_cache,
    require_retention,
)

VALUES: list[Any] = [
    "text",
    "",
    "ünïcödé ✓ 𝄞",
    b"\x00\xffbinary\x80",
    b"",
    0,
    -1,
    2**63 - 1,
    -(2**63),
    2**64,
    -(2**100),
    0.1,
    -0.0,
    float("inf"),
    float("nan"),
    True,
    False,
    None,
    [],
    {},
    [1, "two", 3.0, None, [b"four"], {"five": 5}],
    {"a": 1, "b": [True, None], "c": {"d": b"e"}, "": "empty key"},
    {1: "int keys", 2: "stay ints"},
]


@pytest.fixture(params=CACHE_KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    """The cache under test (one run per kind)."""
    name: str = request.param
    return name


@pytest.fixture
async def cache(kind: str, request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    """A fresh, empty cache of the kind under test."""
    async with open_cache(kind, request) as fresh:
        yield fresh


async def test_a_cache_is_truthy_even_when_empty(cache: Cache) -> None:
    # vibex guards every use with ``if self._cache:``; an empty cache must not turn it off.
    assert cache
    assert bool(cache) is True
    await cache.set("k", 1)
    await cache.clear()
    assert cache


async def test_a_miss_is_the_default(cache: Cache) -> None:
    assert await cache.get("absent") is None
    assert await cache.get("absent", "fallback") == "fallback"
    assert await cache.get("absent", MISSING) is MISSING


async def test_get_returns_what_was_set(cache: Cache) -> None:
    require_retention(cache)
    await cache.set("greeting", "hello")
    assert await cache.get("greeting") == "hello"
    await cache.set("greeting", "replaced")
    assert await cache.get("greeting") == "replaced"


async def test_a_cache_that_retains_nothing_always_misses(cache: Cache) -> None:
    if cache.retains_values:
        pytest.skip(f"{type(cache).__name__} declares retains_values=True")
    await cache.set("k", "v")
    await cache.set_many({"a": 1, "b": 2})
    assert await cache.get("k", MISSING) is MISSING
    assert await cache.get_many(["k", "a", "b"]) == {}
    assert cache.stats().hits == 0


@pytest.mark.parametrize("value", VALUES, ids=repr)
async def test_every_value_type_round_trips_exactly(cache: Cache, value: Any) -> None:
    require_retention(cache)
    await cache.set("value", value)
    assert_same(await cache.get("value", MISSING), value)


async def test_none_is_cached_and_told_apart_from_a_miss(cache: Cache) -> None:
    require_retention(cache)
    await cache.set("nothing", None)
    assert await cache.get("nothing", MISSING) is None
    assert await cache.get("never-set", MISSING) is MISSING
    assert await cache.get_many(["nothing", "never-set"]) == {"nothing": None}


@pytest.mark.parametrize("key", ["plain", "a:b:c", "with space", "ünï/☃", "*?[]\\", "x" * 500])
async def test_any_string_is_a_key(cache: Cache, key: str) -> None:
    require_retention(cache)
    await cache.set(key, key)
    assert await cache.get(key) == key
    await cache.delete(key)
    assert await cache.get(key, MISSING) is MISSING


async def test_delete_removes_one_key_and_a_missing_key_is_fine(cache: Cache) -> None:
    require_retention(cache)
    await cache.set("a", 1)
    await cache.set("b", 2)
    await cache.delete("a")
    await cache.delete("never-there")
    assert await cache.get("a", MISSING) is MISSING
    assert await cache.get("b") == 2
    await cache.delete_many(["b", "also-never-there"])
    assert await cache.get("b", MISSING) is MISSING


async def test_short_ttl_expires(cache: Cache) -> None:
    require_retention(cache)
    await cache.set("brief", "soon gone", ttl=0.1)
    await cache.set("lasting", "stays", ttl=60)
    await asyncio.sleep(0.4)
    assert await cache.get("brief", MISSING) is MISSING
    assert await cache.get("lasting") == "stays"


@pytest.mark.parametrize("ttl", [0, None])
async def test_ttl_zero_or_none_means_no_expiry(cache: Cache, ttl: float | None) -> None:
    require_retention(cache)
    await cache.set("forever", "kept", ttl=ttl)
    await cache.set_many({"also": "kept"}, ttl=ttl)
    assert await cache.get("forever") == "kept"
    assert await cache.get("also") == "kept"


@pytest.mark.parametrize("ttl", [-1, float("nan"), float("inf")])
async def test_a_negative_or_not_finite_ttl_is_refused(cache: Cache, ttl: float) -> None:
    with pytest.raises(ValueError, match="ttl"):
        await cache.set("k", "v", ttl=ttl)
    assert await cache.get("k", MISSING) is MISSING


async def test_setting_again_replaces_the_ttl(cache: Cache) -> None:
    require_retention(cache)
    await cache.set("k", "first", ttl=0.1)
    await cache.set("k", "second", ttl=60)
    await asyncio.sleep(0.4)
    assert await cache.get("k") == "second"


async def test_clear_removes_everything(cache: Cache) -> None:
    require_retention(cache)
    await cache.set_many({f"k{n}": n for n in range(2500)})
    await cache.clear()
    assert await cache.get_many([f"k{n}" for n in range(2500)]) == {}
    await cache.set("after", "works")
    assert await cache.get("after") == "works"


async def test_clear_leaves_another_cache_on_the_same_backend_alone(
    kind: str, cache: Cache, request: pytest.FixtureRequest
) -> None:
    require_retention(cache)
    async with open_cache(kind, request) as other:
        await cache.set("shared-name", "mine")
        await other.set("shared-name", "theirs")
        assert await cache.get("shared-name") == "mine"
        await cache.clear()
        assert await cache.get("shared-name", MISSING) is MISSING
        assert await other.get("shared-name") == "theirs"


@pytest.mark.parametrize("size", [1024 * 1024, 8 * 1024 * 1024])
async def test_large_values(cache: Cache, size: int) -> None:
    require_retention(cache)
    blob = os.urandom(size)
    await cache.set("blob", blob)
    assert await cache.get("blob") == blob
    text = "é" * (size // 2)
    await cache.set("text", text)
    assert await cache.get("text") == text


async def test_64_concurrent_tasks_each_get_their_own_values(cache: Cache) -> None:
    require_retention(cache)

    async def worker(n: int) -> list[Any]:
        seen = []
        for round_ in range(20):
            await cache.set(f"task-{n}", [n, round_])
            seen.append(await cache.get(f"task-{n}"))
            if round_ % 5 == 0:
                await cache.delete(f"task-{n}")
                seen.append(await cache.get(f"task-{n}", "deleted"))
        return seen

    results = await asyncio.gather(*(worker(n) for n in range(64)))
    for n, seen in enumerate(results):
        expected: list[Any] = []
        for round_ in range(20):
            expected.append([n, round_])
            if round_ % 5 == 0:
                expected.append("deleted")
        assert seen == expected


async def test_get_many_and_set_many_of_1000_keys(cache: Cache) -> None:
    require_retention(cache)
    items: dict[str, Any] = {f"key-{n}": {"n": n, "even": n % 2 == 0} for n in range(1000)}
    items["key-none"] = None
    await cache.set_many(items)
    wanted = [*items, "missing-1", "missing-2"]
    found = await cache.get_many(wanted)
    assert found == items
    await cache.set_many([("pair-a", 1), ("pair-b", 2)], ttl=None)
    assert await cache.get_many(iter(["pair-a", "pair-b"])) == {"pair-a": 1, "pair-b": 2}
    assert await cache.get_many([]) == {}


async def test_stats_count_hits_misses_and_sets(cache: Cache) -> None:
    await cache.set("k", "v")
    await cache.get("k")
    await cache.get("absent")
    await cache.delete("k")
    stats = cache.stats()
    assert stats.sets == 1
    assert stats.deletes == 1
    if cache.retains_values:
        assert (stats.hits, stats.misses) == (1, 1)
        assert stats.hit_ratio == 0.5
    else:
        assert (stats.hits, stats.misses) == (0, 2)
    with pytest.raises(AttributeError):
        stats.hits = 7  # type: ignore[misc]


async def test_async_with_closes_the_cache(kind: str, request: pytest.FixtureRequest) -> None:
    made = make_cache(kind, request)
    async with made as entered:
        assert entered is made
        await entered.set("k", 1)
        await entered.delete("k")


def test_the_seed_interface_is_implemented() -> None:
    for cls in (MemoryCache, RedisCache, NoOpCache):
        assert issubclass(cls, storeroom.CacheBackend)
        assert not getattr(cls, "__abstractmethods__", None)


@pytest.mark.parametrize(
    ("url", "cls"),
    [("memory://", MemoryCache), ("none://", NoOpCache), ("redis://127.0.0.1:6379/0", RedisCache),
     ("rediss://127.0.0.1:6380/0", RedisCache)],
)
async def test_the_url_factory_builds_each_cache(url: str, cls: type[Cache]) -> None:
    built = storeroom.cache(url)
    assert type(built) is cls
    assert isinstance(built, Cache)
    await built.aclose()
