"""TieredCache (``?local=N``) on a real Redis Cluster.

A Redis Cluster node pushes invalidations only for the keys it serves, so the
tracker keeps one RESP3 ``CLIENT TRACKING BCAST`` connection on every primary.
Here: ``?local=N`` on a ``redis+cluster://`` URL makes a tiered cache tracked
on every primary; a write or delete by another client to keys of slots on
each primary invalidates the near copy (never served stale after its push);
losing the tracking connection of one node flushes the near copy before
anything is served from it, and tracking comes back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as redis_asyncio

import storeroom
from storeroom.caches import MISSING, RedisCache, TieredCache
from storeroom.caches.cluster import ClusterPipeline, slot_of
from tests.cache.support import redis_cache_namespace
from tests.services.redis_cluster import Cluster

Pair = tuple[TieredCache, RedisCache]


@pytest.fixture
async def cluster_pair(
    request: pytest.FixtureRequest, redis_cluster_url: str
) -> AsyncIterator[Pair]:
    """A tiered cache built from a cluster URL, and another client on its namespace."""
    namespace = redis_cache_namespace(request, "tiered-cluster-")
    tiered = storeroom.cache(f"{redis_cluster_url}?namespace={namespace}&local=1000&timeout=2")
    assert isinstance(tiered, TieredCache)
    other = RedisCache(redis_cluster_url, namespace=namespace, timeout=2)
    try:
        assert await tiered.start(), "tracking did not come up on every primary"
        yield tiered, other
    finally:
        try:
            await other.clear()
        finally:
            await other.aclose()
            await tiered.aclose()


def _owners(tiered: TieredCache, count: int) -> dict[tuple[str, int], list[str]]:
    """``count`` keys of distinct slots on each primary, by the primary's address."""
    router = tiered.far._pipe
    assert isinstance(router, ClusterPipeline)
    assert router._slots is not None  # loaded when tracking started
    owners: dict[tuple[str, int], list[str]] = {address: [] for address in set(router._slots)}
    slots: set[int] = set()
    number = 0
    while any(len(keys) < count for keys in owners.values()):
        key = f"key-{number}"
        number += 1
        slot = slot_of(tiered.far.key(key))
        keys = owners[router._slots[slot]]
        if slot not in slots and len(keys) < count:
            slots.add(slot)
            keys.append(key)
    return owners


async def _kept_near(pair: Pair, count: int) -> dict[tuple[str, int], list[str]]:
    """``count`` keys per primary, written by the other client and read into the
    near copy; by the primary's address."""
    tiered, other = pair
    owners = _owners(tiered, count)
    keys = [key for found in owners.values() for key in found]
    for key in keys:
        await other.set(key, "old")
        assert await tiered.get(key) == "old"
    assert len(tiered.near) == len(keys)
    return owners


async def _tracking_lost(tiered: TieredCache) -> None:
    for _ in range(400):
        if not tiered.tracker.live:
            return
        await asyncio.sleep(0.005)


async def _invalidated(tiered: TieredCache, seen: int) -> None:
    started = time.perf_counter()
    while tiered.invalidations == seen:  # the push has not arrived yet
        await asyncio.sleep(0)
        assert time.perf_counter() - started < 5, "no invalidation within 5 s"


async def test_local_on_a_cluster_url_tracks_every_primary(
    cluster_pair: Pair, redis_cluster: Cluster
) -> None:
    tiered, _ = cluster_pair
    assert tiered.tracker.live
    primaries = redis_cluster.primaries()
    assert len(primaries) == 3
    for port in primaries:
        node: Any = redis_asyncio.Redis(host="127.0.0.1", port=port)
        try:
            ours = [c for c in await node.client_list() if c.get("name") == tiered.tracker.name]
        finally:
            await node.aclose()
        assert len(ours) == 1, f"no tracking connection on primary {port}"
        assert "t" in ours[0]["flags"]  # tracking on
        assert "B" in ours[0]["flags"]  # broadcast mode (a prefix, every key under it)


async def test_writes_by_another_client_invalidate_keys_on_every_node(
    cluster_pair: Pair, redis_cluster: Cluster
) -> None:
    tiered, other = cluster_pair
    owners = _owners(tiered, count=3)
    assert len(owners) == 3  # keys on every primary, three slots each
    raw: Any = redis_asyncio.RedisCluster(host="127.0.0.1", port=redis_cluster.ports[0])
    try:
        for keys in owners.values():
            for key in keys:
                await other.set(key, 0)
                assert await tiered.get(key) == 0  # read from its node, then kept near
                before = tiered.far.writes
                assert await tiered.get(key) == 0
                assert tiered.far.writes == before  # served near, no round trip

                seen = tiered.invalidations
                await other.set(key, 1)  # another storeroom client writes
                await _invalidated(tiered, seen)
                assert await tiered.near.get(key, MISSING) is MISSING
                assert await tiered.get(key) == 1  # never the stale 0 after the push
                assert await tiered.get(key) == 1  # kept near again

                seen = tiered.invalidations
                assert await raw.delete(tiered.far.key(key)) == 1  # a plain redis-py client
                await _invalidated(tiered, seen)
                assert await tiered.get(key, MISSING) is MISSING
    finally:
        await raw.aclose()


async def test_a_lost_tracking_connection_on_one_node_flushes_before_serving(
    cluster_pair: Pair,
) -> None:
    tiered, other = cluster_pair
    owners = await _kept_near(cluster_pair, count=1)
    sessions = tiered.tracker.sessions
    (host, port), (victim,) = next(iter(owners.items()))
    node: Any = redis_asyncio.Redis(host=host, port=port)
    try:
        ours = [c["id"] for c in await node.client_list() if c.get("name") == tiered.tracker.name]
        assert len(ours) == 1
        await node.client_kill_filter(_id=ours[0])
        # A write lands while that node's invalidations are lost: never served near.
        await other.set(victim, "new")
        await _tracking_lost(tiered)
        assert len(tiered.near) == 0  # every node's keys flushed, not only the lost node's
        assert await tiered.get(victim) == "new"
        for _ in range(400):  # it reconnects to every primary and serves near again
            if tiered.tracker.sessions > sessions and tiered.tracker.live:
                break
            await asyncio.sleep(0.01)
        assert tiered.tracker.live
        assert await tiered.get(victim) == "new"
        seen = tiered.invalidations
        await other.set(victim, "newer")  # pushes flow again on the reconnected node
        await _invalidated(tiered, seen)
        assert await tiered.get(victim) == "newer"
    finally:
        await node.aclose()


async def test_a_failover_flushes_the_near_copy_and_tracking_follows_the_new_primary(
    request: pytest.FixtureRequest, disposable_redis_cluster: Cluster
) -> None:
    """A primary dies: its tracking connection is gone, so the near copy is flushed
    before anything is served from it; a write acknowledged after the failover
    is never answered with the value from before; tracking comes back on the
    promoted replica and its pushes invalidate again."""
    cluster = disposable_redis_cluster
    namespace = redis_cache_namespace(request, "tiered-failover-")
    url = f"{cluster.url}?namespace={namespace}&local=1000&timeout=1"
    tiered = storeroom.cache(url)
    assert isinstance(tiered, TieredCache)
    other = RedisCache(cluster.url, namespace=namespace, timeout=1)
    try:
        assert await tiered.start()
        owners = await _kept_near((tiered, other), count=3)
        (_, port), victims = next(iter(owners.items()))
        sessions = tiered.tracker.sessions
        cluster.kill(port)
        await _tracking_lost(tiered)
        assert not tiered.tracker.live
        assert len(tiered.near) == 0  # flushed before anything is served from it

        async def written(key: str, value: str) -> None:
            deadline = time.monotonic() + 20
            while True:  # until the replica is promoted and takes the write
                try:
                    await other.set(key, value)
                    return
                except storeroom.BackendUnavailable:
                    assert time.monotonic() < deadline, "no failover within 20 s"
                    await asyncio.sleep(0.1)

        for key in victims:
            await written(key, "new")
            for _ in range(3):
                try:
                    value = await tiered.get(key)
                except storeroom.BackendUnavailable:
                    continue  # the far side still catching up with the new slot map
                assert value == "new", f"{key}: served {value!r} after 'new' was written"
                break
            else:
                pytest.fail(f"{key}: no answer after the failover")
        deadline = time.monotonic() + 20
        while not (tiered.tracker.live and tiered.tracker.sessions > sessions):
            assert time.monotonic() < deadline, "tracking did not come back within 20 s"
            await asyncio.sleep(0.05)
        victim = victims[0]
        assert await tiered.get(victim) == "new"
        assert await tiered.near.get(victim, MISSING) == "new"  # served near again
        seen = tiered.invalidations
        await other.set(victim, "newer")  # the promoted replica pushes invalidations
        await _invalidated(tiered, seen)
        assert await tiered.get(victim) == "newer"
    finally:
        await other.aclose()
        await tiered.aclose()
