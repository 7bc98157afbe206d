"""``@cached``: results cached (``None`` too), exceptions not, one run per key at a time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from storeroom.caches import MISSING, Cache, CachedFunction, MemoryCache, cached
from tests.cache.support import open_cache


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    async with open_cache(request.param, request) as fresh:
        yield fresh


async def test_results_are_cached_per_arguments(cache: Cache) -> None:
    calls: list[tuple[int, str]] = []

    @cached(cache, ttl=60)
    async def lookup(n: int, label: str = "x") -> dict[str, int | str]:
        calls.append((n, label))
        return {"n": n, "label": label}

    assert isinstance(lookup, CachedFunction)
    assert lookup.__name__ == "lookup"
    assert await lookup(1) == {"n": 1, "label": "x"}
    assert await lookup(1) == {"n": 1, "label": "x"}
    assert await lookup(1, label="y") == {"n": 1, "label": "y"}
    assert await lookup(2) == {"n": 2, "label": "x"}
    assert calls == [(1, "x"), (1, "y"), (2, "x")]
    await lookup.invalidate(1)
    await lookup(1)
    assert calls[-1] == (1, "x")
    assert len(calls) == 4


async def test_one_call_is_one_key_however_its_arguments_are_written(cache: Cache) -> None:
    runs = 0

    @cached(cache, ttl=60)
    async def area(width: int, height: int = 2) -> int:
        nonlocal runs
        runs += 1
        return width * height

    keys = {area.key_for(3), area.key_for(width=3), area.key_for(3, 2), area.key_for(3, height=2)}
    assert len(keys) == 1
    assert [await area(3), await area(width=3), await area(3, height=2)] == [6, 6, 6]
    assert runs == 1


async def test_functions_a_factory_makes_never_share_results(cache: Cache) -> None:
    def make(factor: int) -> CachedFunction[[int], int]:
        @cached(cache, ttl=60)
        async def scaled(n: int) -> int:
            return n * factor

        return scaled

    double, triple = make(2), make(3)
    assert (await double(5), await triple(5)) == (10, 15)
    assert double.key_for(5) != triple.key_for(5)


async def test_a_cached_method_binds_its_object_for_keys_and_invalidation(cache: Cache) -> None:
    class Repo:
        def __init__(self) -> None:
            self.reads = 0

        def __repr__(self) -> str:
            return "Repo()"

        @cached(cache, ttl=60)
        async def count(self, name: str) -> int:
            self.reads += 1
            return self.reads

    repo = Repo()
    assert await repo.count("a") == 1
    assert await repo.count("a") == 1
    assert repo.count.key_for("a") == Repo.count.key_for(repo, "a")
    await repo.count.invalidate("a")
    assert await repo.count("a") == 2


async def test_none_is_cached_and_exceptions_are_not(cache: Cache) -> None:
    calls = 0

    @cached(cache)
    async def nothing() -> None:
        nonlocal calls
        calls += 1

    await nothing()
    await nothing()
    assert calls == 1
    assert await cache.get(nothing.key_for(), MISSING) is None

    failures = 0

    @cached(cache)
    async def flaky() -> str:
        nonlocal failures
        failures += 1
        if failures == 1:
            raise RuntimeError("first call fails")
        return "ok"

    with pytest.raises(RuntimeError):
        await flaky()
    assert await flaky() == "ok"
    assert await flaky() == "ok"
    assert failures == 2


async def test_concurrent_calls_share_one_run(cache: Cache) -> None:
    runs = 0

    @cached(cache)
    async def slow(n: int) -> int:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.02)
        return n * 10

    results = await asyncio.gather(*(slow(n % 2) for n in range(40)))
    assert results == [(n % 2) * 10 for n in range(40)]
    assert runs == 2


async def test_a_cancelled_caller_does_not_cancel_the_others(cache: Cache) -> None:
    @cached(cache)
    async def slow() -> str:
        await asyncio.sleep(0.05)
        return "done"

    first = asyncio.ensure_future(slow())
    second = asyncio.ensure_future(slow())
    await asyncio.sleep(0.01)
    first.cancel()
    assert await second == "done"
    assert first.cancelled()


async def test_a_key_function_and_long_arguments(cache: Cache) -> None:
    @cached(cache, key=lambda user_id, **_: f"user:{user_id}")
    async def profile(user_id: int, verbose: bool = False) -> str:
        return f"profile {user_id}"

    await profile(7, verbose=True)
    assert await cache.get("user:7") == "profile 7"
    assert profile.key_for(7) == "user:7"

    @cached(cache)
    async def echo(text: str) -> str:
        return text

    long_key = echo.key_for("x" * 1000)
    assert len(long_key) < 200
    assert long_key != echo.key_for("x" * 1001)
    assert echo.key_for("short").endswith("echo(('short',), [])")


async def test_methods_can_be_decorated(cache: Cache) -> None:
    class Service:
        def __init__(self, name: str) -> None:
            self.name = name
            self.calls = 0

        def __repr__(self) -> str:
            return f"Service({self.name!r})"

        @cached(cache)
        async def greet(self, who: str) -> str:
            self.calls += 1
            return f"{self.name} greets {who}"

    one, two = Service("one"), Service("two")
    assert await one.greet("ann") == "one greets ann"
    assert await one.greet("ann") == "one greets ann"
    assert await two.greet("ann") == "two greets ann"
    assert (one.calls, two.calls) == (1, 1)
    assert "Service.greet" in repr(Service.greet)


async def test_invalidate_during_a_call_in_flight_keeps_its_result_out(cache: Cache) -> None:
    source = {"value": "old"}
    gate, started = asyncio.Event(), asyncio.Event()

    @cached(cache, ttl=60)
    async def load(name: str) -> str:
        value = source["value"]  # read before the change...
        started.set()
        await gate.wait()
        return value  # ...returned after it

    in_flight = asyncio.ensure_future(load("x"))
    await started.wait()
    source["value"] = "new"
    await load.invalidate("x")
    gate.set()
    assert await in_flight == "old"  # its caller gets what it computed
    assert await cache.get(load.key_for("x"), MISSING) is MISSING  # the cache does not keep it
    assert await load("x") == "new"


async def test_a_set_overtaken_by_invalidate_is_undone() -> None:
    class SlowSet(MemoryCache):
        """A cache whose ``set`` lands after a concurrent ``delete``."""

        async def set(self, key: str, value: object, ttl: float | None = 300) -> None:
            await asyncio.sleep(0.02)
            await super().set(key, value, ttl)

    cache = SlowSet()
    calls = 0

    @cached(cache, ttl=60)
    async def load() -> int:
        nonlocal calls
        calls += 1
        return calls

    first = asyncio.ensure_future(load())
    await asyncio.sleep(0.005)  # computed; its set is under way
    await load.invalidate()
    assert await first == 1
    assert await load() == 2  # not the stale 1
