"""Caches: storeroom's MemoryCache and RedisCache next to their peers.

Memory: sets then gets of small strings with a 300 s TTL over 10,000 keys,
through a bare ``dict`` with a monotonic expiry check (the practical limit,
and the baseline), storeroom's ``MemoryCache`` (LRU bound on: 10,000 entries),
cashews' ``mem://`` cache and aiocache's ``SimpleMemoryCache``.

Redis (127.0.0.1:6379, or ``--redis URL``): sets and gets of a small JSON-like
value at 1 task and at 64 concurrent tasks, and ``get_many``/``set_many`` of
1,000 keys, through redis-py used directly (the baseline, ``json`` for the
value), storeroom's ``RedisCache`` (msgpack, automatic pipelining), aiocache's
``RedisCache`` and cashews' Redis cache. Every key is under a random
``srbench-*`` prefix, removed at the end.

Cluster (a 6-node Redis Cluster started for the run, or ``--cluster URL``):
get and set at 64 tasks through redis-py's ``RedisCluster`` used directly
(the baseline) and storeroom's ``RedisCache`` on ``redis+cluster://``.

Client-side caching: ``get`` of 100 hot keys, one task, through
``MemoryCache`` (the baseline), storeroom's ``TieredCache`` (near copy kept
by RESP3 invalidations) and the plain ``RedisCache``.

Run: ``.venv/bin/python bench/bench_cache.py [--full] [--repeat R] [--redis URL]
[--cluster URL] [--only memory|redis|cluster|local]``.
MemoryCache is held to the bare dict over 200,000 operations (best of 5);
the peers run 20,000 (``--full``: 200,000, and 10x the Redis operations).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as redis_asyncio
from aiocache import RedisCache as AiocacheRedis
from aiocache import SimpleMemoryCache
from cashews import Cache as CashewsCache

sys.path.insert(0, os.path.dirname(__file__))
from _harness import Case, gather_limited, print_table, run_case

from storeroom.caches import MemoryCache, RedisCache, TieredCache

TTL = 300
KEYS = 10_000
VALUE = {"id": 12345, "name": "storeroom", "tags": ["a", "b"], "score": 0.5}

Job = Callable[[], Awaitable[object]]


class DictCache:
    """The baseline: a bare dict of (value, deadline) with a monotonic expiry check."""

    def __init__(self) -> None:
        self.data: dict[str, tuple[Any, float]] = {}

    async def set(self, key: str, value: Any, ttl: float) -> None:
        self.data[key] = (value, time.monotonic() + ttl)

    async def get(self, key: str) -> Any:
        entry = self.data.get(key)
        if entry is None or entry[1] <= time.monotonic():
            return None
        return entry[0]


def memory_cases(ops: int, peers: bool) -> list[Case]:
    """Set and get rows for the bare dict and MemoryCache, and the two peers if ``peers``."""
    keys = [f"key-{n % KEYS}" for n in range(ops)]
    value = "a small string value"
    plain = DictCache()
    ours = MemoryCache(max_entries=KEYS)
    cashews = CashewsCache()
    cashews.setup("mem://", size=KEYS * 2)
    aio = SimpleMemoryCache()

    async def plain_set() -> None:
        for key in keys:
            await plain.set(key, value, TTL)

    async def plain_get() -> None:
        for key in keys:
            await plain.get(key)

    async def ours_set() -> None:
        for key in keys:
            await ours.set(key, value, TTL)

    async def ours_get() -> None:
        for key in keys:
            await ours.get(key)

    async def cashews_set() -> None:
        for key in keys:
            await cashews.set(key, value, expire=TTL)

    async def cashews_get() -> None:
        for key in keys:
            await cashews.get(key)

    async def aio_set() -> None:
        for key in keys:
            await aio.set(key, value, ttl=TTL)

    async def aio_get() -> None:
        for key in keys:
            await aio.get(key)

    names = ("dict+monotonic", "storeroom Memory", "cashews mem", "aiocache Simple")
    sets: dict[str, Job] = dict(
        zip(names, (plain_set, ours_set, cashews_set, aio_set), strict=True)
    )
    gets: dict[str, Job] = dict(
        zip(names, (plain_get, ours_get, cashews_get, aio_get), strict=True)
    )
    if not peers:
        sets = {name: sets[name] for name in names[:2]}
        gets = {name: gets[name] for name in names[:2]}
    return [
        Case(f"set x{ops}", ops, sets, baseline=names[0]),
        Case(f"get x{ops}", ops, gets, baseline=names[0]),
    ]


class RedisContenders:
    """get/set/get_many/set_many for each Redis client, each under its own prefix."""

    def __init__(self, url: str) -> None:
        run = f"srbench-{uuid.uuid4().hex[:8]}"
        self.prefixes = {name: f"{run}-{name}" for name in ("direct", "ours", "aio", "cashews")}
        self.direct = redis_asyncio.Redis.from_url(url)
        self.ours = RedisCache(url, namespace=self.prefixes["ours"])
        parts = url.split("://", 1)[1].split("/")[0].rsplit(":", 1)
        self.aio = AiocacheRedis(
            endpoint=parts[0], port=int(parts[1]) if len(parts) > 1 else 6379,
            namespace=self.prefixes["aio"],
        )
        self.cashews = CashewsCache()
        self.cashews.setup(url, client_side=False)

    def jobs(self, name: str, op: str, keys: list[str]) -> list[Job]:
        """One zero-argument job per key for contender ``name``."""
        direct_prefix = self.prefixes["direct"] + ":"
        cashews_prefix = self.prefixes["cashews"] + ":"
        value = VALUE
        makers: dict[tuple[str, str], Callable[[str], Job]] = {
            ("direct", "set"): lambda k: lambda: self.direct.set(
                direct_prefix + k, json.dumps(value), ex=TTL),
            ("direct", "get"): lambda k: lambda: _json_get(self.direct, direct_prefix + k),
            ("ours", "set"): lambda k: lambda: self.ours.set(k, value, TTL),
            ("ours", "get"): lambda k: lambda: self.ours.get(k),
            ("aio", "set"): lambda k: lambda: self.aio.set(k, value, ttl=TTL),
            ("aio", "get"): lambda k: lambda: self.aio.get(k),
            ("cashews", "set"): lambda k: lambda: self.cashews.set(
                cashews_prefix + k, value, expire=TTL),
            ("cashews", "get"): lambda k: lambda: self.cashews.get(cashews_prefix + k),
        }
        make = makers[(name, op)]
        return [make(key) for key in keys]

    def batch(self, name: str, op: str, keys: list[str], rounds: int) -> Job:
        """``rounds`` batches of ``keys`` through contender ``name``'s batch API."""
        items = {key: VALUE for key in keys}
        direct_keys = [self.prefixes["direct"] + ":" + key for key in keys]
        cashews_items = {self.prefixes["cashews"] + ":" + key: VALUE for key in keys}

        async def direct_set() -> None:
            for _ in range(rounds):
                pipe = self.direct.pipeline(transaction=False)
                for key in direct_keys:
                    pipe.set(key, json.dumps(VALUE), ex=TTL)
                await pipe.execute()

        async def direct_get() -> None:
            for _ in range(rounds):
                [json.loads(raw) for raw in await self.direct.mget(direct_keys) if raw]

        async def ours_set() -> None:
            for _ in range(rounds):
                await self.ours.set_many(items, TTL)

        async def ours_get() -> None:
            for _ in range(rounds):
                await self.ours.get_many(keys)

        async def aio_set() -> None:
            for _ in range(rounds):
                await self.aio.multi_set(list(items.items()), ttl=TTL)

        async def aio_get() -> None:
            for _ in range(rounds):
                await self.aio.multi_get(keys)

        async def cashews_set() -> None:
            for _ in range(rounds):
                await self.cashews.set_many(cashews_items, expire=TTL)

        async def cashews_get() -> None:
            for _ in range(rounds):
                await self.cashews.get_many(*cashews_items)

        table: dict[tuple[str, str], Job] = {
            ("direct", "set"): direct_set, ("direct", "get"): direct_get,
            ("ours", "set"): ours_set, ("ours", "get"): ours_get,
            ("aio", "set"): aio_set, ("aio", "get"): aio_get,
            ("cashews", "set"): cashews_set, ("cashews", "get"): cashews_get,
        }
        return table[(name, op)]

    async def cleanup(self) -> None:
        """Remove every key of this run (SCAN + UNLINK by prefix) and close the clients."""
        for prefix in self.prefixes.values():
            async for key in self.direct.scan_iter(match=prefix + "*", count=1000):
                await self.direct.unlink(key)
        await self.ours.aclose()
        await self.direct.aclose()
        await self.aio.close()
        await self.cashews.close()


async def _json_get(client: redis_asyncio.Redis, key: str) -> Any:
    raw = await client.get(key)
    return None if raw is None else json.loads(raw)


NAMES = {"direct": "redis-py direct", "ours": "storeroom Redis",
         "aio": "aiocache Redis", "cashews": "cashews redis"}


def redis_cases(bench: RedisContenders, ops: int, rounds: int) -> list[Case]:
    """Per-key rows at 1 and 64 tasks, and batch rows of 1,000 keys."""
    keys = [f"key-{n}" for n in range(ops)]
    cases: list[Case] = []
    for tasks, count in ((1, ops), (64, ops * 2)):
        task_keys = [keys[n % ops] for n in range(count)]
        for op in ("set", "get"):
            contenders: dict[str, Job] = {}
            for name, label in NAMES.items():
                jobs = bench.jobs(name, op, task_keys)

                async def work(jobs: list[Job] = jobs, tasks: int = tasks) -> None:
                    await gather_limited(jobs, tasks)

                contenders[label] = work
            cases.append(Case(f"{op} x{count} @{tasks}", count, contenders,
                              baseline=NAMES["direct"]))
    batch_keys = keys[:1000]
    for op in ("set", "get"):
        contenders = {label: bench.batch(name, op, batch_keys, rounds)
                      for name, label in NAMES.items()}
        cases.append(Case(f"{op}_many 1000 x{rounds}", 1000 * rounds, contenders,
                          baseline=NAMES["direct"]))
    return cases


async def local_cases(url: str, ops: int) -> list[Case]:
    """Hot-key ``get``: MemoryCache, TieredCache (near copy) and the plain RedisCache."""
    namespace = f"srbench-{uuid.uuid4().hex[:8]}-local"
    memory = MemoryCache()
    plain = RedisCache(url, namespace=namespace)
    tiered = TieredCache(RedisCache(url, namespace=namespace))
    hot = [f"hot-{n}" for n in range(100)]
    for key in hot:
        await memory.set(key, VALUE, TTL)
    await plain.set_many({key: VALUE for key in hot}, TTL)
    assert await tiered.start()
    keys = [hot[n % len(hot)] for n in range(ops)]

    def reads(cache: Any, count: int) -> Job:
        async def run() -> None:
            for key in keys[:count]:
                await cache.get(key)
        return run

    cases = [
        Case(f"get x{ops}", ops,
             {"storeroom Memory": reads(memory, ops), "storeroom Tiered": reads(tiered, ops)},
             baseline="storeroom Memory"),
        Case(f"get x{ops // 10}", ops // 10,
             {"storeroom Redis": reads(plain, ops // 10),
              "storeroom Tiered": reads(tiered, ops // 10)},
             baseline="storeroom Redis"),
    ]
    CLEANUP.append(plain.clear)
    CLEANUP.extend([plain.aclose, tiered.aclose])
    return cases


async def cluster_cases(url: str | None, ops: int) -> list[Case]:
    """get/set at 64 tasks: redis-py's RedisCluster directly vs RedisCache on the cluster."""
    if url is None:
        url = await asyncio.to_thread(_start_cluster)
    seeds = url.split("://", 1)[1].split(",")
    host, port = seeds[0].rsplit(":", 1)
    direct: Any = redis_asyncio.RedisCluster(
        host=host, port=int(port), socket_timeout=30, socket_connect_timeout=30
    )
    await direct.initialize()
    prefix = f"srbench-{uuid.uuid4().hex[:8]}"
    ours = RedisCache(url, namespace=prefix + "-ours")
    keys = [f"key-{n % 2000}" for n in range(ops)]
    payload = json.dumps(VALUE)

    def direct_job(op: str) -> Job:
        async def run() -> None:
            if op == "set":
                jobs = [lambda k=k: direct.set(f"{prefix}-direct:{k}", payload, ex=TTL)
                        for k in keys]
            else:
                jobs = [lambda k=k: _json_get(direct, f"{prefix}-direct:{k}") for k in keys]
            await gather_limited(jobs, 64)
        return run

    def ours_job(op: str) -> Job:
        async def run() -> None:
            if op == "set":
                jobs = [lambda k=k: ours.set(k, VALUE, TTL) for k in keys]
            else:
                jobs = [lambda k=k: ours.get(k) for k in keys]
            await gather_limited(jobs, 64)
        return run

    cases = [
        Case(f"{op} x{ops} @64", ops,
             {"redis-py RedisCluster": direct_job(op), "storeroom Redis cluster": ours_job(op)},
             baseline="redis-py RedisCluster")
        for op in ("set", "get")
    ]
    CLEANUP.extend([ours.clear, ours.aclose, direct.aclose])
    return cases


#: Closers of the cluster and client-side parts, run at the end.
CLEANUP: list[Callable[[], Awaitable[object]]] = []


def _start_cluster() -> str:
    """Start a 6-node cluster like the tests' (stopped at exit); its URL."""
    import atexit
    import shutil
    import tempfile

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from tests.services.cloud import _free_port
    from tests.services.redis_cluster import Cluster

    folder = tempfile.mkdtemp(prefix="srbench-cluster-")
    binary = shutil.which("redis-server") or "redis-server"
    cluster = Cluster(binary, folder, [_free_port() for _ in range(6)],
                      [_free_port() for _ in range(6)])
    atexit.register(shutil.rmtree, folder, True)
    atexit.register(cluster.stop)
    for port in cluster.ports:
        cluster.start(port)
    import subprocess

    subprocess.run(
        [shutil.which("redis-cli") or "redis-cli", "--cluster", "create",
         *[f"127.0.0.1:{port}" for port in cluster.ports],
         "--cluster-replicas", "1", "--cluster-yes"],
        check=True, stdout=subprocess.DEVNULL, timeout=60,
    )
    cluster.wait_ok()
    return cluster.url


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the issue's counts (slower)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--cluster", help="a redis+cluster:// URL (default: start one)")
    parser.add_argument(
        "--only", choices=("memory", "redis", "cluster", "local"), help="run one part"
    )
    args = parser.parse_args()
    peer_ops, redis_ops, rounds = (200_000, 20_000, 50) if args.full else (20_000, 2_000, 10)

    if args.only in (None, "local"):
        cases = [await run_case(case, args.repeat)
                 for case in await local_cases(args.redis, redis_ops * 10)]
        print_table("client-side caching: get of 100 hot keys, 1 task", cases)
    if args.only in (None, "cluster"):
        cases = [await run_case(case, args.repeat)
                 for case in await cluster_cases(args.cluster, redis_ops * 2)]
        print_table("Redis Cluster (3 primaries), small JSON-like value, 64 tasks", cases)
    if args.only in ("local", "cluster"):
        return
    if args.only != "redis":
        # The target check runs long enough (200,000 ops, best of 5) to be steady;
        # the slow peers get fewer ops by default so the whole run stays short.
        cases = [await run_case(case, max(args.repeat, 5))
                 for case in memory_cases(200_000, peers=False)]
        print_table(f"MemoryCache vs a bare dict, {KEYS:,} keys, TTL {TTL} s", cases)
        cases = [await run_case(case, args.repeat)
                 for case in memory_cases(peer_ops, peers=True)]
        print_table(f"in-memory caches, {KEYS:,} keys, TTL {TTL} s", cases)
    if args.only == "memory":
        return
    bench = RedisContenders(args.redis)
    try:
        cases = [await run_case(case, args.repeat)
                 for case in redis_cases(bench, redis_ops, rounds)]
    finally:
        await bench.cleanup()
    print_table(f"Redis caches at {args.redis}, small JSON-like value", cases)


async def _main() -> None:
    try:
        await main()
    finally:
        for close in CLEANUP:
            await close()


if __name__ == "__main__":
    asyncio.run(_main())
