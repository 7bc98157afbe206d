"""MemoryCache: LRU order, expiry on a fake clock, the byte bound, and a model check."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import storeroom
from storeroom import ConfigurationError
from storeroom.caches import MISSING, MemoryCache
from storeroom.caches.memory import approximate_size


@dataclass
class FakeClock:
    """A monotonic clock that moves only when told."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def test_least_recently_used_is_evicted_first(clock: FakeClock) -> None:
    cache = MemoryCache(3, clock=clock)
    for key in "abc":
        await cache.set(key, key)
    await cache.get("a")  # a is now the most recently used
    await cache.set("d", "d")
    assert await cache.get("b", MISSING) is MISSING
    assert [await cache.get(key) for key in "acd"] == ["a", "c", "d"]
    await cache.set("c", "again")  # setting refreshes recency too
    await cache.set("e", "e")
    assert await cache.get("a", MISSING) is MISSING
    assert cache.stats().evictions == 2
    assert len(cache) == 3


async def test_expired_entries_are_never_returned(clock: FakeClock) -> None:
    cache = MemoryCache(10, clock=clock)
    await cache.set("k", "v", ttl=10)
    clock.advance(9.999)
    assert await cache.get("k") == "v"
    clock.advance(0.001)
    assert await cache.get("k", MISSING) is MISSING
    assert await cache.get_many(["k"]) == {}
    assert cache.stats().expirations == 1
    assert len(cache) == 0


async def test_expired_entries_are_reclaimed_before_live_ones_are_evicted(
    clock: FakeClock,
) -> None:
    cache = MemoryCache(3, clock=clock)
    await cache.set("old-live", 1, ttl=None)
    await cache.set("expiring", 2, ttl=5)
    await cache.set("newer-live", 3, ttl=100)
    clock.advance(6)
    await cache.set("new", 4)
    stats = cache.stats()
    assert (stats.evictions, stats.expirations) == (0, 1)
    assert await cache.get_many(["old-live", "expiring", "newer-live", "new"]) == {
        "old-live": 1,
        "newer-live": 3,
        "new": 4,
    }


async def test_a_key_set_again_with_a_later_deadline_survives_its_old_one(
    clock: FakeClock,
) -> None:
    cache = MemoryCache(2, clock=clock)
    await cache.set("a", 1, ttl=10)
    await cache.set("b", 2, ttl=10)
    await cache.set("c", 3, ttl=10)  # builds the deadline index; evicts a
    await cache.set("b", 22, ttl=100)  # b's old deadline is still in the index
    clock.advance(50)
    await cache.set("d", 4, ttl=10)  # c has expired; b must not be taken for expired
    assert await cache.get_many(["b", "c", "d"]) == {"b": 22, "d": 4}
    clock.advance(55)
    await cache.set("e", 5, ttl=10)  # now b (and d) have expired too
    assert await cache.get_many(["b", "d", "e"]) == {"e": 5}
    assert cache.stats().expirations == 3


async def test_many_expiries_under_pressure_keep_the_bound(clock: FakeClock) -> None:
    cache = MemoryCache(100, clock=clock)
    for n in range(5000):
        await cache.set(f"k{n}", n, ttl=1 + n % 7)
        clock.advance(0.01)
        assert len(cache) <= 100
    live = await cache.get_many([f"k{n}" for n in range(5000)])
    assert all(n >= 4900 for n in live.values())


async def test_max_bytes_bounds_the_sum_of_sizes(clock: FakeClock) -> None:
    cache = MemoryCache(100, max_bytes=100, clock=clock)
    await cache.set("a", b"x" * 40)
    await cache.set("b", b"y" * 40)
    assert cache.size_bytes == 80
    await cache.set("c", "z" * 40)  # over 100 bytes: a (least recent) goes
    assert await cache.get("a", MISSING) is MISSING
    assert cache.size_bytes == 80
    await cache.set("b", b"y" * 10)  # replacing adjusts the sum
    assert cache.size_bytes == 50
    await cache.delete("c")
    assert cache.size_bytes == 10
    await cache.set("huge", b"h" * 101)  # larger than the bound: not cached
    assert await cache.get("huge", MISSING) is MISSING
    await cache.set("b", b"h" * 101)  # and it removes what was there
    assert await cache.get("b", MISSING) is MISSING
    assert cache.size_bytes == 0


async def test_max_bytes_reclaims_expired_entries_first(clock: FakeClock) -> None:
    cache = MemoryCache(100, max_bytes=100, clock=clock)
    await cache.set("live", b"l" * 50, ttl=None)
    await cache.set("brief", b"b" * 40, ttl=1)
    clock.advance(2)
    await cache.set("new", b"n" * 40)
    assert await cache.get_many(["live", "brief", "new"]) == {"live": b"l" * 50, "new": b"n" * 40}
    assert cache.stats().evictions == 0


async def test_a_custom_sizeof_is_used() -> None:
    cache = MemoryCache(100, max_bytes=3, sizeof=lambda value: 1)
    for key in "abcd":
        await cache.set(key, object())
    assert len(cache) == 3


def test_approximate_size() -> None:
    assert approximate_size(b"abc") == 3
    assert approximate_size("abcd") == 4
    assert approximate_size([b"x" * 1000]) > 1000
    assert approximate_size({"k": "v" * 1000}) > 1000


async def test_values_are_kept_by_reference() -> None:
    cache = MemoryCache()
    value = [1]
    await cache.set("k", value)
    value.append(2)
    assert await cache.get("k") == [1, 2]


async def test_clear_resets_entries_and_bytes(clock: FakeClock) -> None:
    cache = MemoryCache(10, max_bytes=1000, clock=clock)
    await cache.set_many({"a": b"1", "b": b"2"}, ttl=5)
    await cache.clear()
    assert len(cache) == 0
    assert cache.size_bytes == 0
    clock.advance(10)
    await cache.set_many({f"k{n}": b"x" for n in range(20)})
    assert len(cache) == 10


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        MemoryCache(0)
    with pytest.raises(ValueError, match="max_bytes"):
        MemoryCache(10, max_bytes=0)


def test_from_url() -> None:
    cache = storeroom.cache("memory://?max_entries=50&max_bytes=4096")
    assert isinstance(cache, MemoryCache)
    assert (cache.max_entries, cache.max_bytes) == (50, 4096)
    assert repr(cache) == "MemoryCache(max_entries=50, max_bytes=4096)"
    with pytest.raises(ConfigurationError, match="known: max_bytes, max_entries"):
        storeroom.cache("memory://?colour=red")
    with pytest.raises(ConfigurationError, match="not a number"):
        storeroom.cache("memory://?max_entries=many")


async def test_it_works_from_several_event_loops_in_turn() -> None:
    cache = MemoryCache()
    await cache.set("k", "v")
    assert await asyncio.to_thread(lambda: asyncio.run(cache.get("k"))) == "v"


# -- model check -------------------------------------------------------------------


@dataclass
class Model:
    """The specification, written plainly: a list in LRU order and a clock."""

    limit: int
    now: float = 0.0
    entries: dict[str, tuple[int, float | None]] = field(default_factory=dict)  # ordered

    def get(self, key: str) -> int | None:
        found = self.entries.get(key)
        if found is None:
            return None
        if found[1] is not None and found[1] <= self.now:
            del self.entries[key]
            return None
        del self.entries[key]
        self.entries[key] = found
        return found[0]

    def set(self, key: str, value: int, ttl: int) -> None:
        self.entries.pop(key, None)
        self.entries[key] = (value, self.now + ttl if ttl else None)
        if len(self.entries) > self.limit:
            for name, (_, deadline) in list(self.entries.items()):
                if deadline is not None and deadline <= self.now:
                    del self.entries[name]
            while len(self.entries) > self.limit:
                del self.entries[next(iter(self.entries))]


KEYS = st.sampled_from("abcdefgh")
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("set"), KEYS, st.integers(0, 9), st.integers(0, 5)),
        st.tuples(st.just("get"), KEYS, st.just(0), st.just(0)),
        st.tuples(st.just("delete"), KEYS, st.just(0), st.just(0)),
        st.tuples(st.just("tick"), st.just(""), st.integers(1, 3), st.just(0)),
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(limit=st.integers(1, 5), ops=OPS)
def test_memory_cache_matches_the_model(limit: int, ops: list[tuple[str, str, int, int]]) -> None:
    async def check() -> None:
        clock = FakeClock(0.0)
        cache = MemoryCache(limit, clock=clock)
        model = Model(limit)
        for op, key, number, ttl in ops:
            if op == "set":
                await cache.set(key, number, ttl=ttl)
                model.set(key, number, ttl)
            elif op == "get":
                assert await cache.get(key) == model.get(key)
            elif op == "delete":
                await cache.delete(key)
                model.entries.pop(key, None)
            else:
                clock.advance(number)
                model.now += number
            assert len(cache) <= limit
        for key in "abcdefgh":
            assert await cache.get(key) == model.get(key)

    asyncio.run(check())
