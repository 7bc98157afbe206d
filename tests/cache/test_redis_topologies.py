"""RedisCache on a real Redis Cluster and through real sentinels.

The conformance suite already runs on both (``redis-cluster`` and
``redis-sentinel`` kinds); here is what only a topology has: batching per
node, keys of many slots, redirections, a failover under load (a primary
killed), and bad URLs. Failover tests check that errors are bounded, that no
value read was ever one not written to its key, and that the cache recovers.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as redis_asyncio

import storeroom
from storeroom import BackendUnavailable, ConfigurationError
from storeroom.caches import MISSING, RedisCache
from storeroom.caches.cluster import ClusterPipeline, slot_of
from tests.cache.support import open_cache, redis_cache_namespace
from tests.services.redis_cluster import Cluster, ask
from tests.services.redis_sentinel import SentinelSetup


@pytest.fixture
async def cluster_cache(request: pytest.FixtureRequest) -> AsyncIterator[RedisCache]:
    async with open_cache("redis-cluster", request) as fresh:
        assert isinstance(fresh, RedisCache)
        yield fresh


def _router(cache: RedisCache) -> ClusterPipeline:
    router = cache._pipe
    assert isinstance(router, ClusterPipeline)
    return router


# -- Cluster ------------------------------------------------------------------------


async def test_commands_are_batched_per_node(cluster_cache: RedisCache) -> None:
    keys = [f"k{n}" for n in range(64)]
    await cluster_cache.set_many({key: key for key in keys})
    before = cluster_cache.writes
    values = await asyncio.gather(*(cluster_cache.get(key) for key in keys))
    assert values == keys
    assert cluster_cache.writes - before <= 3  # one write per primary, not 64
    slots = {slot_of(cluster_cache.key(key)) for key in keys}
    assert len(slots) > 30  # the keys really are spread over the cluster


async def test_many_keys_across_slots(cluster_cache: RedisCache) -> None:
    items = {f"item-{n}": n for n in range(100)}
    await cluster_cache.set_many(items)
    assert await cluster_cache.get_many([*items, "absent"]) == items
    await cluster_cache.delete_many(list(items)[:50])
    assert await cluster_cache.get_many(items) == dict(list(items.items())[50:])


async def test_clear_scans_every_primary_and_only_its_namespace(
    request: pytest.FixtureRequest, redis_cluster: Cluster
) -> None:
    async with open_cache("redis-cluster", request) as mine, \
            open_cache("redis-cluster", request) as other:
        await mine.set_many({f"m{n}": n for n in range(60)})
        await other.set_many({f"o{n}": n for n in range(60)})
        await mine.clear()
        assert await mine.get_many([f"m{n}" for n in range(60)]) == {}
        assert len(await other.get_many([f"o{n}" for n in range(60)])) == 60
        primaries = redis_cluster.primaries()
        holding = [port for port in primaries if ":0\r\n" not in ask(port, "DBSIZE")]
        assert len(holding) == 3  # the other namespace's keys are on every primary


async def test_a_moved_reply_is_followed_and_the_map_fixed(cluster_cache: RedisCache) -> None:
    await cluster_cache.set("k", "v")
    router = _router(cluster_cache)
    assert router._slots is not None
    slot = slot_of(cluster_cache.key("k"))
    owner = router._slots[slot]
    wrong = next(address for address in router._slots if address != owner)
    router._slots[slot] = wrong  # as if the slot had moved since the map was read
    assert await cluster_cache.get("k") == "v"  # MOVED, then sent to the owner
    await asyncio.sleep(0.2)  # the refresh the MOVED scheduled
    assert router._slots[slot] == owner


async def test_an_ask_reply_is_followed_during_a_migration(
    cluster_cache: RedisCache, redis_cluster: Cluster
) -> None:
    await cluster_cache.set("seed", 1)  # loads the map
    router = _router(cluster_cache)
    assert router._slots is not None
    slot = slot_of(cluster_cache.key("moving"))
    source = router._slots[slot][1]
    target = next(port for port in redis_cluster.primaries() if port != source)
    source_id = ask(source, "CLUSTER", "MYID").split("\r\n")[1]
    target_id = ask(target, "CLUSTER", "MYID").split("\r\n")[1]
    ask(target, "CLUSTER", "SETSLOT", str(slot), "IMPORTING", source_id)
    ask(source, "CLUSTER", "SETSLOT", str(slot), "MIGRATING", target_id)
    try:
        # Absent from the source: it answers ASK, and the key is written on the target.
        await cluster_cache.set("moving", "there")
        assert "ASK" in ask(source, "GET", cluster_cache.key("moving"))
        assert await cluster_cache.get("moving") == "there"
        assert router._slots[slot][1] == source  # ASK does not change the map
    finally:
        await cluster_cache.delete("moving")
        ask(target, "CLUSTER", "SETSLOT", str(slot), "NODE", source_id)
        ask(source, "CLUSTER", "SETSLOT", str(slot), "NODE", source_id)


async def test_a_node_list_naming_a_single_server_is_refused(redis_url: str) -> None:
    port = redis_url.rsplit(":", 1)[1].split("/")[0]
    async with RedisCache(f"redis+cluster://:hunter2@127.0.0.1:{port}", timeout=2) as cache:
        with pytest.raises(ConfigurationError, match="not a Redis Cluster node") as caught:
            await asyncio.wait_for(cache.get("k"), 5)
    assert "hunter2" not in str(caught.value)


async def test_a_cluster_nobody_answers_for_is_unavailable(dead_redis_url: str) -> None:
    url = dead_redis_url.replace("redis://", "redis+cluster://u:hunter2@").rsplit("/", 1)[0]
    async with RedisCache(url, timeout=1) as cache:
        with pytest.raises(BackendUnavailable) as caught:
            await asyncio.wait_for(cache.get("k"), 5)
    assert "connection refused" in str(caught.value)
    assert "hunter2" not in str(caught.value)


async def _load(cache: RedisCache, seconds: float, keys: int = 50) -> dict[str, float]:
    """Sets and gets for ``seconds``; counts outcomes; a value never written is ``wrong``.

    Every key starts at ``0`` (set before); ``error_window`` is the time from the
    first to the last ``BackendUnavailable``.
    """
    written: dict[str, set[int]] = {f"k{n}": {0} for n in range(keys)}
    counts: dict[str, float] = {"ok": 0, "errors": 0, "wrong": 0, "error_window": 0.0}
    first_error: list[float] = []
    rng = random.Random(7)
    deadline = time.monotonic() + seconds
    sequence = 0

    async def one(key: str) -> None:
        nonlocal sequence
        sequence += 1
        value = sequence
        try:
            if rng.random() < 0.5:
                written[key].add(value)
                await cache.set(key, value)
            else:
                got = await cache.get(key, MISSING)
                if got is not MISSING and got not in written[key]:
                    counts["wrong"] += 1
            counts["ok"] += 1
        except BackendUnavailable:
            counts["errors"] += 1
            now = time.monotonic()
            first_error[:] = first_error or [now]
            counts["error_window"] = now - first_error[0]

    while time.monotonic() < deadline:
        await asyncio.gather(*(one(rng.choice(list(written))) for _ in range(32)))
        await asyncio.sleep(0.01)
    return counts


async def test_a_failover_under_load_is_bounded_and_never_wrong(
    request: pytest.FixtureRequest, disposable_redis_cluster: Cluster
) -> None:
    redis_cluster = disposable_redis_cluster
    namespace = redis_cache_namespace(request)
    victim = redis_cluster.primaries()[0]
    try:
        async with RedisCache(redis_cluster.url, namespace=namespace, timeout=1) as cache:
            await cache.set_many({f"k{n}": 0 for n in range(50)})
            load = asyncio.ensure_future(_load(cache, 7.0))
            await asyncio.sleep(0.5)
            redis_cluster.kill(victim)
            counts = await load
            print(f"cluster failover under load: {counts}")
            assert counts["wrong"] == 0
            assert counts["error_window"] < 8.0  # bounded: the failover's few seconds
            assert counts["ok"] > 0
            # Recovered: every key answers again.
            await cache.set_many({f"k{n}": n for n in range(50)})
            assert await cache.get_many([f"k{n}" for n in range(50)]) == {
                f"k{n}": n for n in range(50)
            }
    finally:
        redis_cluster.start(victim)  # it rejoins as a replica (checked: the cluster is whole)
        await asyncio.to_thread(redis_cluster.wait_ok)


# -- Sentinel ---------------------------------------------------------------------


async def test_sentinel_finds_the_primary(
    request: pytest.FixtureRequest, redis_sentinel: SentinelSetup
) -> None:
    async with open_cache("redis-sentinel", request) as cache:
        await cache.set("k", "v")
        primary = redis_sentinel.primary()
        assert primary is not None
        assert "v" in ask(primary, "GET", cache.key("k"))  # type: ignore[attr-defined]


async def test_a_sentinel_failover_under_load_is_bounded_and_never_wrong(
    request: pytest.FixtureRequest, disposable_redis_sentinel: SentinelSetup
) -> None:
    redis_sentinel = disposable_redis_sentinel
    namespace = redis_cache_namespace(request)
    old = redis_sentinel.primary()
    assert old is not None
    try:
        async with RedisCache(redis_sentinel.url, namespace=namespace, timeout=1) as cache:
            await cache.set_many({f"k{n}": 0 for n in range(50)})
            load = asyncio.ensure_future(_load(cache, 6.0))
            await asyncio.sleep(0.5)
            redis_sentinel.kill(old)
            counts = await load
            print(f"sentinel failover under load: {counts}")
            new = redis_sentinel.primary()
            assert new is not None
            assert new != old
            assert counts["wrong"] == 0
            assert counts["error_window"] < 8.0  # bounded: the failover's few seconds
            await cache.set("after", "failover")
            assert await cache.get("after") == "failover"
    finally:
        redis_sentinel.start_data(old)  # the sentinels make it a replica of the new primary


async def test_a_service_no_sentinel_knows_is_unavailable_and_fast(
    redis_sentinel: SentinelSetup,
) -> None:
    hosts = ",".join(f"127.0.0.1:{port}" for port in redis_sentinel.sentinel_ports)
    async with RedisCache(f"redis+sentinel://:hunter2@{hosts}/nosuch", timeout=1) as cache:
        started = time.monotonic()
        with pytest.raises(BackendUnavailable) as caught:
            await asyncio.wait_for(cache.get("k"), 5)
    assert time.monotonic() - started < 3
    assert "nosuch" in str(caught.value)
    assert "hunter2" not in str(caught.value)


# -- bad URLs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+cluster://", "host:port"),
        ("redis+cluster://127.0.0.1", "host:port"),
        ("redis+cluster://127.0.0.1:7000,", "host:port"),
        ("redis+cluster://127.0.0.1:notaport", "host:port"),
        ("redis+cluster://127.0.0.1:99999", "host:port"),
        ("redis+cluster://u:hunter2@127.0.0.1:7000/3", "no /db path"),
        ("redis+sentinel://127.0.0.1:26379", "/service"),
        ("redis+sentinel://u:hunter2@127.0.0.1:26379/sr/x", "/service"),
        ("redis+sentinel://127.0.0.1:26379/sr?bogus=1", "bogus"),
        ("redis+cluster://127.0.0.1:7000?namespace=", "must not be empty"),
    ],
)
def test_bad_topology_urls_are_clear(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        storeroom.cache(url)  # the URL factory knows the topology schemes
    assert "hunter2" not in str(caught.value)


async def test_the_url_factory_builds_topologies(redis_cluster_url: str) -> None:
    cache = storeroom.cache(f"{redis_cluster_url}?namespace=sr-factory&timeout=2")
    try:
        assert isinstance(cache, RedisCache)
        await cache.set("k", 1)
        assert await cache.get("k") == 1
    finally:
        await cache.clear()
        await cache.aclose()


async def test_a_plain_client_sees_what_the_cluster_cache_stored(
    cluster_cache: RedisCache, redis_cluster: Cluster
) -> None:
    await cluster_cache.set("shared", "value")
    client: Any = redis_asyncio.RedisCluster(host="127.0.0.1", port=redis_cluster.ports[0])
    try:
        assert await client.get(cluster_cache.key("shared")) is not None
    finally:
        await client.aclose()
