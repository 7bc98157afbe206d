"""The cancellation sweep: random operations, cancelled at random awaits, on every layer.

The promise under test: an operation cancelled at any await either happened or
did not. It never corrupts another operation, never leaves a stale cache entry,
never leaks a descriptor, temp file, connection or task, and never misroutes a
reply. Every layer gets the same treatment — a few workers run a seeded random
mix of operations on a handful of keys, and each operation is left to finish,
cancelled after a random number of event-loop turns, or cancelled by a
millisecond deadline (``tests/reliability/cancelling.py``) — and then the
invariants are checked:

- **providers** (every conformance backend, ``CachedProvider`` included): every
  read returns exactly the bytes of some write to that key that finished or was
  cancelled (or of a copy from another key), a range is a slice of such bytes, a
  result's metadata matches its bytes; once quiet, a ``CachedProvider`` answers
  what the provider under it holds; no temp file is left in a local root; the
  process holds no more descriptors than before and no stray task runs;
- **caches** (memory, Redis, no-op): every ``get`` returns a value set for that
  very key (a misrouted Redis reply would carry another key), and once quiet
  the cache answers exactly;
- **``@cached``**: writers change the source and then invalidate; once quiet,
  every call returns the source's current value (an in-flight call must not
  store what it read before an invalidation);
- **artifacts**: numbers never repeat, every listed version reads back whole
  and is one of the contents stored under that name, and once quiet a new
  version gets a number above every number seen.

``--soak`` runs each sweep longer; the counts go to the "reliability figures".
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import os
import random
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

import storeroom
from storeroom import IfMatch, NotFound, Provider, StorageError
from storeroom.artifactstore import ArtifactStore
from storeroom.caches import MISSING, Cache, cached
from storeroom.providers.base import PutMode
from storeroom.providers.cached import CachedProvider
from storeroom.providers.local.posix import TEMP_PREFIX
from tests.cache.support import open_cache
from tests.conformance.conftest import BACKENDS, Backend
from tests.reliability.cancelling import Tally, open_descriptors, run, settle, stray_tasks
from tests.reliability.conftest import FIGURES, Budget

KEYS = ("a.bin", "b.bin", "dir/c.bin", "dir/d.bin")
#: Sizes of payloads: empty, inline-small, page, and large enough that local
#: I/O runs in a worker thread (where a cancelled read once closed its fd early).
SIZES = (0, 100, 4096, 300_000, 1_200_000)
REMOTE_SIZES = (0, 100, 4096, 70_000)


def seconds(budget: Budget, remote: bool) -> float:
    """How long each sweep runs its workers."""
    if budget.soak:
        return 20.0 if remote else 30.0
    return 1.5 if remote else 2.5


def payload(key: str, serial: int, size: int) -> bytes:
    """Bytes that say which write they come from, in every slice of them."""
    seed = hashlib.sha256(f"{key}|{serial}".encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def record(request: pytest.FixtureRequest, tally: Tally, layer: str) -> None:
    """Add the sweep's counts to the run's reliability figures; fail on any breach."""
    figures = request.config.stash[FIGURES]
    for name, value in tally.counts.items():
        figures[f"cancellation sweep: {name}"] += value
    figures[f"cancellation sweep: {layer} runs"] += 1
    figures["cancellation sweep: broken invariants"] += len(tally.wrong)
    assert not tally.wrong, f"{len(tally.wrong)} broken invariant(s):\n" + "\n".join(
        tally.wrong[:20]
    )


# -- providers -------------------------------------------------------------------------


class Writes:
    """Every payload that may be at each key: written (finished or cancelled) or copied."""

    def __init__(self) -> None:
        self.possible: dict[str, dict[str, bytes]] = defaultdict(dict)
        self.sources: dict[str, set[str]] = defaultdict(set)  # dst -> keys copied into it
        self.serial = 0

    def new(self, key: str, rng: random.Random, sizes: tuple[int, ...]) -> bytes:
        self.serial += 1
        data = payload(key, self.serial, rng.choice(sizes))
        self.possible[key][hashlib.sha256(data).hexdigest()] = data
        return data

    def copied(self, src: str, dst: str) -> None:
        # A copy in flight may read a write to ``src`` made after it started: ``dst``
        # may hold anything ``src`` ever may (including later writes), transitively.
        self.sources[dst].add(src)

    def _values(self, key: str) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        seen, pending = {key}, [key]
        while pending:
            current = pending.pop()
            found.update(self.possible[current])
            for source in self.sources[current] - seen:
                seen.add(source)
                pending.append(source)
        return found

    def whole(self, key: str, data: bytes) -> bool:
        return hashlib.sha256(data).hexdigest() in self._values(key)

    def slice(self, key: str, data: bytes, start: int) -> bool:
        return any(
            value[start : start + len(data)] == data and len(value) >= start + len(data)
            for value in self._values(key).values()
        )


async def provider_worker(
    provider: Provider,
    writes: Writes,
    rng: random.Random,
    sizes: tuple[int, ...],
    deadline: float,
    tally: Tally,
) -> None:
    loop = asyncio.get_running_loop()
    while loop.time() < deadline:
        key = rng.choice(KEYS)
        op = rng.choice(
            (
                "put",
                "put",
                "create",
                "ifmatch",
                "get",
                "get",
                "range",
                "stream",
                "write_stream",
                "copy",
                "delete",
                "head",
            )
        )
        tally.counts[f"provider {op}"] += 1
        if op in ("put", "create", "write_stream"):
            data = writes.new(key, rng, sizes)
            if op == "write_stream":
                step = max(1, len(data) // 3)

                async def chunks(data: bytes = data, step: int = step) -> AsyncIterator[bytes]:
                    for start in range(0, len(data), step):
                        await asyncio.sleep(0)
                        yield data[start : start + step]

                await run(rng, partial(provider.write_stream, key, chunks()), tally)
            else:
                mode: PutMode = "create" if op == "create" else "overwrite"
                await run(rng, partial(provider.put, key, data, mode=mode), tally)
        elif op == "ifmatch":
            try:
                etag = (await provider.head(key)).etag
            except NotFound:
                continue
            if etag is None:
                continue
            data = writes.new(key, rng, sizes)
            await run(rng, partial(provider.put, key, data, mode=IfMatch(etag)), tally)
        elif op == "get":
            result = await run(rng, partial(provider.get, key), tally)
            if result.value is not None:
                found = result.value
                if not writes.whole(key, found.data):
                    tally.bad(f"get {key}: {len(found.data)} bytes that no write of it holds")
                if found.meta.size != len(found.data):
                    tally.bad(f"get {key}: meta.size {found.meta.size} != {len(found.data)} bytes")
        elif op == "range":
            start = rng.randrange(0, 5000)
            end = start + rng.randrange(0, 70_000)
            result_r = await run(rng, partial(provider.read_range, key, start, end), tally)
            if (
                result_r.value is not None
                and result_r.value
                and not writes.slice(key, result_r.value, start)
            ):
                tally.bad(f"read_range {key} [{start}:{end}]: bytes of no write")

        elif op == "stream":
            chunk = rng.choice((1024, 65_536, 1 << 20))

            async def read_all(k: str = key, c: int = chunk) -> bytes:
                return b"".join([part async for part in provider.stream(k, c)])

            result_s = await run(rng, read_all, tally)
            if result_s.value is not None and not writes.whole(key, result_s.value):
                tally.bad(f"stream {key}: {len(result_s.value)} bytes that no write of it holds")
        elif op == "copy":
            dst = rng.choice(KEYS)
            if dst == key:
                continue
            writes.copied(key, dst)
            await run(rng, partial(provider.copy, key, dst), tally)
        elif op == "delete":
            await run(rng, partial(provider.delete, key), tally)
        else:
            result_h = await run(rng, partial(provider.head, key), tally)
            if result_h.value is not None and result_h.value.size not in {
                len(value) for value in writes._values(key).values()
            }:
                tally.bad(f"head {key}: size {result_h.value.size} of no write")


async def check_quiet_provider(provider: Provider, writes: Writes, tally: Tally) -> None:
    """Once quiet: every key holds one of its writes, and a cache agrees with its provider."""
    for key in KEYS:
        try:
            found = await provider.get(key)
        except NotFound:
            found = None
        if found is not None and not writes.whole(key, found.data):
            tally.bad(f"quiet get {key}: bytes of no write")
        if isinstance(provider, CachedProvider):
            try:
                inner = (await provider.provider.get(key)).data
            except NotFound:
                inner = None
            if (found.data if found is not None else None) != inner:
                tally.bad(f"quiet {key}: the cache serves other bytes than the provider holds")


def temp_files(root: Path) -> list[str]:
    return [
        os.path.join(folder, name)
        for folder, _, names in os.walk(root)
        for name in names
        if name.startswith(TEMP_PREFIX)
    ]


@pytest.fixture(params=list(BACKENDS))
def sweep_backend(request: pytest.FixtureRequest) -> tuple[str, Backend]:
    name: str = request.param
    return name, BACKENDS[name]


async def test_provider_sweep(
    sweep_backend: tuple[str, Backend],
    request: pytest.FixtureRequest,
    budget: Budget,
    tmp_path: Path,
) -> None:
    name, backend = sweep_backend
    tally = Tally()
    rng = random.Random(f"provider-{name}-{os.getpid()}")
    sizes = REMOTE_SIZES if backend.remote else SIZES
    writes = Writes()
    async with backend.open(request) as warm:  # one-time process state (probes, pools)
        await warm.put("warm-up", b"x" * 2_000_000)
        await warm.get("warm-up")
    gc.collect()
    descriptors = open_descriptors()
    async with backend.open(request) as provider:
        deadline = asyncio.get_running_loop().time() + seconds(budget, backend.remote)
        await asyncio.gather(
            *(
                provider_worker(
                    provider, writes, random.Random(rng.random()), sizes, deadline, tally
                )
                for _ in range(6)
            )
        )
        await settle()
        await check_quiet_provider(provider, writes, tally)
        if stray_tasks():
            tally.bad(f"{len(stray_tasks())} task(s) still running once quiet: {stray_tasks()}")
        root = getattr(provider, "root", None)
        if root is not None and temp_files(Path(root)):
            tally.bad(f"temp files left: {temp_files(Path(root))[:5]}")
    await settle()
    gc.collect()
    if not backend.remote:
        grown = open_descriptors() - descriptors
        if grown > 0:
            tally.bad(f"{grown} descriptor(s) leaked")
    record(request, tally, f"provider {name}")


# -- caches ----------------------------------------------------------------------------


async def cache_worker(
    cache: Cache,
    possible: dict[str, set[int]],
    counter: Iterator[int],
    rng: random.Random,
    deadline: float,
    tally: Tally,
) -> None:
    loop = asyncio.get_running_loop()
    keys = [f"k{index}" for index in range(6)]

    def check(key: str, value: Any, how: str) -> None:
        if value is MISSING or value is None:
            return
        if not isinstance(value, dict) or value.get("key") != key:
            tally.bad(f"{how} {key}: a value of another key: {value!r}")
        elif value.get("n") not in possible[key]:
            tally.bad(f"{how} {key}: a value never set: {value!r}")

    while loop.time() < deadline:
        key = rng.choice(keys)
        op = rng.choice(("set", "set", "get", "get", "get_many", "set_many", "delete", "poison"))
        tally.counts[f"cache {op}"] += 1
        if op == "set":
            serial = next(counter)
            possible[key].add(serial)
            await run(rng, partial(cache.set, key, {"key": key, "n": serial}, ttl=60), tally)
        elif op == "set_many":
            items = {}
            for other in rng.sample(keys, 3):
                serial = next(counter)
                possible[other].add(serial)
                items[other] = {"key": other, "n": serial}
            await run(rng, partial(cache.set_many, items, ttl=60), tally)
        elif op == "get":
            result = await run(rng, partial(cache.get, key, MISSING), tally)
            if result.outcome == "done":
                check(key, result.value, "get")
        elif op == "get_many":
            chosen = rng.sample(keys, 3)
            result_m = await run(rng, partial(cache.get_many, chosen), tally)
            if result_m.value is not None:
                for got_key, value in result_m.value.items():
                    if got_key not in chosen:
                        tally.bad(f"get_many {chosen}: answered for {got_key}")
                    check(got_key, value, "get_many")
        elif op == "poison":
            # A key that cannot be encoded fails alone; it must not stall the others.
            result_p = await run(rng, partial(cache.set, "bad\udcff" + key, 1, ttl=60), tally)
            if result_p.outcome == "done" and not cache.retains_values:
                pass
            elif result_p.outcome == "failed" and not isinstance(
                result_p.error, (StorageError, ValueError)
            ):
                tally.bad(f"poison key: untyped error {result_p.error!r}")
        else:
            await run(rng, partial(cache.delete, key), tally)


@pytest.mark.parametrize("kind", ["memory", "redis", "noop"])
async def test_cache_sweep(kind: str, request: pytest.FixtureRequest, budget: Budget) -> None:
    tally = Tally()
    rng = random.Random(f"cache-{kind}-{os.getpid()}")
    possible: dict[str, set[int]] = defaultdict(set)
    counter = iter(range(1, 1 << 40))
    async with open_cache(kind, request) as cache:
        span = seconds(budget, kind == "redis")
        deadline = asyncio.get_running_loop().time() + span
        workers = asyncio.gather(
            *(
                cache_worker(cache, possible, counter, random.Random(rng.random()), deadline, tally)
                for _ in range(8)
            )
        )
        try:
            await asyncio.wait_for(workers, span + 10)
        except asyncio.TimeoutError:
            tally.bad(f"the workers hung: no answer {span + 10:.0f} s after the deadline")
        await settle()
        # Once quiet the cache answers exactly: replies are aligned with their commands.
        final = {f"k{index}": {"key": f"k{index}", "n": -index} for index in range(6)}
        await cache.set_many(final, ttl=60)
        for key, value in final.items():
            got = await cache.get(key, MISSING)
            if cache.retains_values and got != value:
                tally.bad(f"quiet get {key}: {got!r}, set {value!r}")
    await settle()
    if stray_tasks():
        tally.bad(f"{len(stray_tasks())} task(s) still running after close: {stray_tasks()}")
    record(request, tally, f"cache {kind}")


# -- @cached ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_cached_function_sweep(
    kind: str, request: pytest.FixtureRequest, budget: Budget
) -> None:
    tally = Tally()
    rng = random.Random(f"cached-{kind}-{os.getpid()}")
    source: dict[str, int] = {f"u{index}": 0 for index in range(4)}
    async with open_cache(kind, request) as cache:

        @cached(cache, ttl=600)
        async def load(key: str) -> list[Any]:
            seen = source[key]  # read first, like a slow query that began earlier
            await asyncio.sleep(rng.uniform(0, 0.003))
            return [key, seen]

        async def worker(local: random.Random, deadline: float) -> None:
            loop = asyncio.get_running_loop()
            while loop.time() < deadline:
                key = local.choice(list(source))
                if local.random() < 0.25:
                    tally.counts["cached update"] += 1
                    source[key] += 1
                    await load.invalidate(key)  # the writer's invalidation completes
                else:
                    tally.counts["cached call"] += 1
                    result = await run(local, partial(load, key), tally)
                    if result.value is not None and result.value[0] != key:
                        tally.bad(f"load({key}) answered {result.value!r}")

        deadline = asyncio.get_running_loop().time() + seconds(budget, kind == "redis")
        await asyncio.gather(*(worker(random.Random(rng.random()), deadline) for _ in range(6)))
        await settle()
        for key, value in source.items():
            got = await load(key)
            if got != [key, value]:
                tally.bad(
                    f"quiet load({key}) = {got!r}, source holds {value}: stale after invalidate"
                )
    record(request, tally, f"@cached {kind}")


# -- artifacts ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["memory", "local", "s3"])
async def test_artifact_sweep(
    kind: str, request: pytest.FixtureRequest, budget: Budget, tmp_path: Path
) -> None:
    tally = Tally()
    rng = random.Random(f"artifacts-{kind}-{os.getpid()}")
    names = ("reports/q1.md", "models/m.bin")
    stored: dict[str, set[bytes]] = defaultdict(set)
    seen_numbers: dict[str, set[int]] = defaultdict(set)
    if kind == "s3":
        url = request.getfixturevalue("s3_server").url(f"sweep-{os.getpid()}-{rng.random():.6f}")
    else:
        url = "memory://" if kind == "memory" else str(tmp_path / "store")
    store: ArtifactStore = storeroom.artifacts(url)
    try:

        async def worker(local: random.Random, deadline: float) -> None:
            loop = asyncio.get_running_loop()
            serial = 0
            while loop.time() < deadline:
                name = local.choice(names)
                op = local.choice(
                    ("store", "store", "store", "get", "get", "versions", "delete", "keep")
                )
                tally.counts[f"artifact {op}"] += 1
                if op == "store":
                    serial += 1
                    data = payload(name, id(local) + serial, local.choice((10, 3000, 9000)))
                    stored[name].add(data)
                    result = await run(
                        local,
                        partial(store.store_artifact, name, data, "application/octet-stream"),
                        tally,
                    )
                    if result.value is not None and result.value.success and result.value.data:
                        seen_numbers[name].add(int(result.value.data["version"][1:]))
                elif op == "get":
                    result_g = await run(local, partial(store.get_artifact_bytes, name), tally)
                    if result_g.value is not None and result_g.value not in stored[name]:
                        tally.bad(f"get {name}: content never stored")
                    if isinstance(result_g.error, StorageError) and result_g.error.code not in (
                        "not_found",
                    ):
                        tally.bad(f"get {name}: {result_g.error!r}")
                elif op == "versions":
                    result_v = await run(local, partial(store.get_artifact_versions, name), tally)
                    if result_v.value is not None:
                        numbers = [int(v[1:]) for v in result_v.value]
                        if numbers != sorted(set(numbers)):
                            tally.bad(
                                f"versions {name}: {result_v.value} repeat or are out of order"
                            )
                elif op == "delete" and local.random() < 0.3:
                    await run(local, partial(store.delete_artifact, name, "latest"), tally)
                elif op == "keep" and local.random() < 0.3:
                    await run(local, partial(store.keep_last, name, 3), tally)

        deadline = asyncio.get_running_loop().time() + seconds(budget, kind == "s3")
        await asyncio.gather(*(worker(random.Random(rng.random()), deadline) for _ in range(6)))
        await settle()
        for name in names:
            try:
                versions = await store.get_artifact_versions(name)
            except NotFound:
                versions = []
            for version in versions:
                try:
                    data = await store.get_artifact_bytes(name, version)
                except NotFound:
                    tally.bad(f"quiet {name}@{version}: listed but not found")
                    continue
                if data not in stored[name]:
                    tally.bad(f"quiet {name}@{version}: content never stored")
            top = max([int(v[1:]) for v in versions] + list(seen_numbers[name]) + [0])
            fresh = await store.store_artifact(name, b"after the sweep", "application/octet-stream")
            if not fresh.success or not fresh.data or int(fresh.data["version"][1:]) <= top:
                tally.bad(f"quiet store {name}: {fresh!r} not above v{top}")
    finally:
        await store.aclose()
    record(request, tally, f"artifacts {kind}")
