"""The cost of versioning: ArtifactStore next to the raw provider it runs on.

On local disk (``LocalProvider``), one folder per contender and run, on each
file system asked for (default: this machine's disk, where the benchmark's
folder is, and tmpfs at ``/dev/shm``):

- store 1 KiB: ``provider.put`` of a fresh key vs ``store_artifact`` (new
  content, 100 artifacts receiving versions round-robin). Target: >= 0.35x.
  "its 2 writes alone" makes a store's two writes without the store's own
  work: the floor its ratio can approach.
  1 KiB is inline (in the manifest, no blob) and the store knows each head, so
  a store is one create (the manifest) and one compare-and-swap (the head).
- provider ops 1 KiB: what a store is made of, each next to a plain put: a
  create, a compare-and-swap with a known etag, and (what a store falls back
  to when another writer moved the head) a read followed by a compare-and-swap.
- get 1 KiB: ``provider.get`` vs ``get_artifact`` and ``get_artifact_bytes``
  of the latest, and ``get_artifact`` of a given version (each read checks the
  sha256). Target: >= 0.6x for the latest.
- list 10,000 artifacts: a raw listing of the heads' prefix plus one small read
  per artifact (the same concurrency) vs ``list_artifacts``. Target: <= 2x the
  time, i.e. a ratio >= 0.5x.

Run: ``.venv/bin/python bench/bench_artifacts.py [--ops N] [--artifacts N] [--repeat R]
[--dir DIR ...]``
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from _harness import Case, gather_limited, print_table, run_case

from storeroom.artifactstore import ArtifactStore
from storeroom.artifactstore.layout import HEADS
from storeroom.providers.base import IfMatch
from storeroom.providers.local import LocalProvider

KIB = 1024


def _payloads(count: int, tag: int = 0) -> list[bytes]:
    """Distinct 1 KiB texts (distinct per ``tag`` too), so that nothing is deduplicated."""
    return [f"{tag}-{n:08d}".encode().ljust(KIB, b"x") for n in range(count)]


class Folders:
    """A fresh folder per timed run, under one temporary base."""

    def __init__(self, base: str) -> None:
        self.base = base
        self._made = itertools.count()

    def fresh(self, label: str) -> str:
        path = os.path.join(self.base, f"{label}-{next(self._made)}")
        os.makedirs(path)
        return path


async def store_cases(folders: Folders, ops: int) -> list[Case]:
    """Steady state: each contender first writes one untimed round into its folder.

    Every timed round writes new content (new keys for the raw puts, new
    versions of the same 100 artifacts for the store) into the same folder.
    """
    raw = LocalProvider(folders.fresh("raw"))
    artifacts = ArtifactStore(LocalProvider(folders.fresh("store")))
    writes = LocalProvider(folders.fresh("writes"))
    rounds = itertools.count()
    numbers = itertools.count(1)
    heads = {  # the store's two writes alone: what its own work (hashing, records) adds to
        n: (await writes.put(f"heads/a{n:03d}/@head.json", _payloads(1)[0])).etag or ""
        for n in range(100)
    }

    async def raw_round() -> None:
        tag = next(rounds)
        for n, item in enumerate(_payloads(ops, tag)):
            await raw.put(f"files/a{n % 100:03d}/{tag}-{n:06d}.txt", item)

    async def store_round() -> None:
        for n, item in enumerate(_payloads(ops, next(rounds))):
            result = await artifacts.store_artifact(f"a{n % 100:03d}", item)
            assert result.success, result.error

    async def writes_round() -> None:
        """A store's two writes, shaped as its own (a manifest of ~1.3 KiB created at
        the next number, the head swapped with a known etag), without its work."""
        for n, item in enumerate(_payloads(ops, next(rounds))):
            record = item + b"x" * 256
            key = f"versions/a{n % 100:03d}/@v/{next(numbers):012d}.json"
            await writes.put(key, record, mode="create")
            head = f"heads/a{n % 100:03d}/@head.json"
            meta = await writes.put(head, record, mode=IfMatch(heads[n % 100]))
            heads[n % 100] = meta.etag or ""

    await raw_round()
    await store_round()
    await writes_round()
    return [
        Case(
            f"store 1 KiB x{ops}",
            ops,
            {
                "raw put": raw_round,
                "store_artifact": store_round,
                "its 2 writes alone": writes_round,
            },
            baseline="raw put",
        )
    ]


async def anatomy_cases(folders: Folders, ops: int) -> list[Case]:
    """The provider operations a store is made of, to read the store's ratio against."""
    provider = LocalProvider(folders.fresh("anatomy"))
    data = _payloads(1)[0]
    rounds = itertools.count()
    for n in range(100):
        await provider.put(f"heads/a{n:03d}/head.json", data)

    async def put_new() -> None:
        tag = next(rounds)
        for n in range(ops):
            await provider.put(f"new/a{n % 100:03d}/{tag}-{n}", data)

    async def create_new() -> None:
        tag = next(rounds)
        for n in range(ops):
            await provider.put(f"created/a{n % 100:03d}/{tag}-{n}", data, mode="create")

    async def compare_and_swap() -> None:
        for n in range(ops):
            key = f"heads/a{n % 100:03d}/head.json"
            found = await provider.get(key)
            await provider.put(key, data, mode=IfMatch(found.meta.etag or ""))

    etags = {  # keys of their own: the contender above moves the etags of its keys
        key: (await provider.put(key, data)).etag or ""
        for key in (f"swapped/a{n:03d}/head.json" for n in range(100))
    }

    async def swap_known() -> None:
        for n in range(ops):
            key = f"swapped/a{n % 100:03d}/head.json"
            etags[key] = (await provider.put(key, data, mode=IfMatch(etags[key]))).etag or ""

    return [
        Case(
            f"provider ops 1 KiB x{ops}",
            ops,
            {
                "put (new key)": put_new,
                "put create (new key)": create_new,
                "IfMatch, etag known": swap_known,
                "get + put IfMatch": compare_and_swap,
            },
            baseline="put (new key)",
        )
    ]


async def get_cases(folders: Folders, ops: int) -> list[Case]:
    payloads = _payloads(ops)
    raw = LocalProvider(folders.fresh("raw-get"))
    artifacts = ArtifactStore(LocalProvider(folders.fresh("store-get")))
    names = [f"a{n:05d}" for n in range(ops)]
    for name, data in zip(names, payloads, strict=True):
        await raw.put(f"files/{name}.txt", data)
        await artifacts.store_artifact(name, data)
        await artifacts.store_artifact(name, data[::-1])

    async def raw_get() -> None:
        for name in names:
            await raw.get(f"files/{name}.txt")

    async def get_latest() -> None:
        for name in names:
            assert await artifacts.get_artifact(name) is not None

    async def get_bytes_latest() -> None:
        for name in names:
            await artifacts.get_artifact_bytes(name)

    async def get_v1() -> None:
        for name in names:
            assert await artifacts.get_artifact(name, "v1") is not None

    return [
        Case(
            f"get 1 KiB x{ops}",
            ops,
            {
                "raw get": raw_get,
                "get_artifact latest": get_latest,
                "get_artifact_bytes latest": get_bytes_latest,
                "get_artifact v1": get_v1,
            },
            baseline="raw get",
        )
    ]


async def list_cases(folders: Folders, count: int, concurrency: int) -> list[Case]:
    artifacts = ArtifactStore(LocalProvider(folders.fresh("store-list")), concurrency=concurrency)
    provider = artifacts.provider
    for n in range(count):
        await artifacts.store_artifact(f"team{n % 10}/report{n:05d}.md", f"report {n}")

    async def raw_listing() -> None:
        keys = await provider.list(HEADS)
        assert len(keys) == count

    async def raw_list_and_read() -> None:
        keys = await provider.list(HEADS)
        await gather_limited([functools.partial(provider.read, k) for k in keys], concurrency)

    async def list_artifacts() -> None:
        assert len(await artifacts.list_artifacts()) == count

    return [
        Case(
            f"list {count:,} artifacts",
            1,
            {
                "raw list + 1 read each": raw_list_and_read,
                "raw listing only": raw_listing,
                "list_artifacts": list_artifacts,
            },
            baseline="raw list + 1 read each",
        )
    ]


def _file_system(path: str) -> str:
    """The type of the file system holding ``path`` (from /proc/mounts), e.g. ``ext4``."""
    best, kind = "", "?"
    real = os.path.realpath(path)
    with open("/proc/mounts") as mounts:
        for line in mounts:
            fields = line.split()
            point = fields[1]
            inside = real == point or real.startswith(point.rstrip("/") + "/")
            if inside and len(point) > len(best):
                best, kind = point, fields[2]
    return kind


def _ratio(case: Case, contender: str) -> float:
    rates = {r.contender: r.rate for r in case.results}
    return rates[contender] / rates[case.baseline]


async def main(ops: int, count: int, repeat: int, where: str) -> None:
    base = tempfile.mkdtemp(prefix="storeroom-bench-artifacts-", dir=where)
    kind = _file_system(base)
    try:
        folders = Folders(base)
        cases = [
            *await store_cases(folders, ops),
            *await anatomy_cases(folders, ops),
            *await get_cases(folders, ops),
            *await list_cases(folders, count, concurrency=32),
        ]
        for case in cases:
            await run_case(case, repeat)
        print_table(f"ArtifactStore on LocalProvider, {kind} (ratio: higher is faster)", cases)
        store, _, get, listing = cases
        listed = listing.results[2].seconds / listing.results[0].seconds
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"{kind}: store_artifact / raw put: {_ratio(store, 'store_artifact'):.2f}x "
              "(target >= 0.35x)")
        for contender in ("get_artifact latest", "get_artifact_bytes latest"):
            print(f"{kind}: {contender} / raw get: {_ratio(get, contender):.2f}x "
                  "(target >= 0.60x)")
        print(f"{kind}: list_artifacts time / (raw listing + 1 read each): {listed:.2f}x "
              "(target <= 2.00x)")
        print(f"load average after the run: {load}")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ops", type=int, default=1000)
    parser.add_argument("--artifacts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--dir",
        action="append",
        help="folder to run in (repeatable); default: this disk's temp folder and /dev/shm",
    )
    args = parser.parse_args()
    tmpfs = ["/dev/shm"] if os.path.isdir("/dev/shm") else []
    places = args.dir or [tempfile.gettempdir(), *tmpfs]
    for place in places:
        asyncio.run(main(args.ops, args.artifacts, args.repeat, place))
