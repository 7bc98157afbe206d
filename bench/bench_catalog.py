"""The catalog at 100,000 versions: find via SQLite / PostgreSQL vs the scan; the index's costs.

The data set (100,000 versions of 20,000 artifacts, 5 each, with metadata,
aliases on every tenth artifact) is written once into a local folder and
reused (``--data``, default ``~/.cache/storeroom-bench/catalog-<versions>``);
it is written straight in the store's own format (manifests and heads from
``storeroom.artifactstore.records``), which is far quicker than 100,000
``store_artifact`` calls and gives the same files. The build time is printed.

Figures (targets from issue 14):

- selective ``find`` (100 results): SQLite <= 20 ms, PostgreSQL <= 50 ms, and
  the scan of the same store (the ratio);
- ``list_artifacts(prefix)`` of 100 entries with an index <= 20 ms (answers
  checked equal to the no-index answers);
- ``store_artifact`` with a SQLite index >= 0.7x of without;
- rebuild throughput (versions/s) from local and from S3 (moto), and the
  rebuild's peak memory (RSS of a child process) at 10,000 and 100,000
  versions: it streams, so it must not grow with the versions.

PostgreSQL: 127.0.0.1:5432, user postgres (a database of this run, dropped at
the end); skipped with a note if it does not answer.

Run: ``.venv/bin/python bench/bench_catalog.py [--versions N] [--artifacts N] [--quick]``
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import json
import os
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import storeroom
from storeroom.artifactstore import ArtifactStore
from storeroom.artifactstore.layout import head_key, manifest_key
from storeroom.artifactstore.records import ArtifactVersion, Head
from storeroom.providers.local import LocalProvider

PG_SERVER = os.environ.get("STOREROOM_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
STAGES = ("dev", "staging", "prod")
SELECTIVE = "metadata.batch = 'b417'"  # 1 in 1,000 versions: 100 of 100,000
COMPOUND = "metadata.project = 'p017' and metadata.stage = 'prod' and latest = true"


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f}"


def record(a: int, n: int, i: int, base: datetime) -> ArtifactVersion:
    """Version ``n`` of artifact ``a`` (global index ``i``)."""
    name = f"proj-{a % 200:03d}/model-{a:05d}"
    content = f"{name} v{n}".encode()
    metadata = {
        "project": f"p{a % 200:03d}", "stage": STAGES[i % 3], "acc": round((i % 997) / 997, 4),
        "epoch": n, "owner": f"user{a % 50}", "batch": f"b{i % 1000}",
    }
    return ArtifactVersion(
        name, n, hashlib.sha256(content).hexdigest(), len(content), "text/plain", "utf-8",
        metadata, base + timedelta(milliseconds=i), content,
    )


def write_dataset(root: Path, artifacts: int, versions: int) -> None:
    """Manifests and heads as ``store_artifact`` would leave them."""
    per = versions // artifacts
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    made: set[str] = set()
    for a in range(artifacts):
        stored = [record(a, n, a * per + n - 1, base) for n in range(1, per + 1)]
        for version in stored:
            path = root / manifest_key(version.name, version.number)
            if str(path.parent) not in made:
                path.parent.mkdir(parents=True, exist_ok=True)
                made.add(str(path.parent))
            path.write_bytes(version.to_json())
        aliases = {"prod": 3} if a % 10 == 0 else {}
        head = Head(stored[0].name, per, 0, frozenset(), stored[0].created, stored[-1], aliases)
        path = root / head_key(head.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(head.to_json())


def dataset(folder: Path, artifacts: int, versions: int) -> tuple[Path, str]:
    """The store folder (built if missing) and how long building took."""
    done = folder / "complete.json"
    root = folder / "store"
    if done.exists():
        built = json.loads(done.read_text())
        return root, f"reused (built in {built['seconds']:.1f} s on {built['when']})"
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    write_dataset(root, artifacts, versions)
    seconds = time.perf_counter() - started
    done.write_text(json.dumps({"seconds": seconds, "when": datetime.now().isoformat()}))
    return root, f"built now in {seconds:.1f} s ({load()})"


async def timed(func: Callable[[], Awaitable[Any]], repeat: int) -> tuple[float, Any]:
    """Median seconds of ``repeat`` runs, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = await func()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def rebuild_child(root: str, index: str) -> None:
    """In a child process: rebuild ``index`` from ``root``; print seconds, versions, peak RSS."""

    async def main() -> dict[str, Any]:
        store = ArtifactStore(LocalProvider(root), index=index)
        report = await store.reindex()
        await store.aclose()
        return {"seconds": report.seconds, "versions": report.versions}

    result = asyncio.run(main())
    result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def rebuild_in_child(root: Path, index: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--rebuild-child", str(root), index],
        check=True, capture_output=True, text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def postgres_database() -> tuple[str | None, str]:
    try:
        import psycopg

        name = f"storeroom_bench_{secrets.token_hex(4)}"
        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True, connect_timeout=3) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return f"{PG_SERVER}/{name}", name
    except Exception as exc:  # no server: report and go on
        return None, str(exc).splitlines()[0]


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def store_cost(count: int, folder: Path) -> tuple[float, float]:
    """Stores per second without and with a SQLite index (fresh stores, 100 artifacts)."""
    rates: list[float] = []
    for with_index in (False, True, False, True):
        root = folder / f"w{len(rates)}"
        index = f"sqlite:///{root / 'catalog.db'}" if with_index else None
        store = ArtifactStore(LocalProvider(root / "s"), index=index)
        await store.store_artifact("warm", "x")
        started = time.perf_counter()
        for i in range(count):
            await store.store_artifact(f"a/{i % 100}", f"content {i}", "text/plain", {"i": i})
        rates.append(count / (time.perf_counter() - started))
        await store.aclose()
    return max(rates[0], rates[2]), max(rates[1], rates[3])


async def s3_rebuild(versions: int, artifacts: int) -> str:
    sys.path.insert(0, os.path.dirname(__file__))
    from bench_s3 import BUCKET, KEY_ID, REGION, SECRET, moto_server

    with moto_server() as endpoint:
        provider = storeroom.provider(
            f"s3://{BUCKET}/catalog", endpoint=endpoint, allow_http="true", region=REGION,
            access_key_id=KEY_ID, secret_access_key=SECRET,
        )  # fmt: skip
        local = Path(tempfile.mkdtemp(prefix="storeroom-bench-s3-"))
        write_dataset(local, artifacts, versions)
        files = [p for p in local.rglob("*") if p.is_file()]

        async def upload(path: Path) -> None:
            await provider.put(str(path.relative_to(local)), path.read_bytes())

        sem = asyncio.Semaphore(32)

        async def limited(path: Path) -> None:
            async with sem:
                await upload(path)

        await asyncio.gather(*(limited(p) for p in files))
        shutil.rmtree(local)
        index = f"sqlite:///{tempfile.mkdtemp()}/s3.db"
        store = ArtifactStore(provider, index=index)
        report = await store.reindex()
        await store.aclose()
    return (f"rebuild from S3 (moto): {report.versions} versions in {report.seconds:.2f} s = "
            f"{report.versions / report.seconds:,.0f} versions/s")


async def main(args: argparse.Namespace) -> None:
    print(f"catalog bench, {args.versions:,} versions of {args.artifacts:,} artifacts; {load()}")
    folder = Path(args.data or Path.home() / ".cache/storeroom-bench" / f"catalog-{args.versions}")
    root, how = dataset(folder, args.artifacts, args.versions)
    print(f"data set at {folder}: {how}")
    small, _ = dataset(folder.with_name(f"catalog-{args.versions}-tenth"),
                       args.artifacts // 10, args.versions // 10)
    work = Path(tempfile.mkdtemp(prefix="storeroom-bench-catalog-"))
    sqlite_url = f"sqlite:///{work / 'catalog.db'}"
    pg_url, pg_name = (None, "--quick") if args.quick else postgres_database()
    try:
        if args.quick:  # a SQLite index kept next to the data set, caught up (not rebuilt)
            sqlite_url = f"sqlite:///{folder / 'catalog.db'}"
            kept = ArtifactStore(LocalProvider(root), index=sqlite_url)
            report = await kept.reconcile()
            await kept.aclose()
            print(f"SQLite index caught up: {report.artifacts} artifacts read in "
                  f"{report.seconds:.1f} s ({load()})")
        print("\n-- rebuild (child process each; peak RSS of the process) --")
        for label, url in (("SQLite", None if args.quick else sqlite_url), ("PostgreSQL", pg_url)):
            if url is None:
                print(f"{label}: skipped ({pg_name if label == 'PostgreSQL' else '--quick'})")
                continue
            tenth = rebuild_in_child(small, f"sqlite:///{work / 'tenth.db'}" if label == "SQLite"
                                     else url)
            full = rebuild_in_child(root, url)
            print(f"{label}: {full['versions']:,} versions in {full['seconds']:.1f} s = "
                  f"{full['versions'] / full['seconds']:,.0f} versions/s; peak RSS "
                  f"{tenth['rss_mb']:.0f} MB at {tenth['versions']:,} versions, "
                  f"{full['rss_mb']:.0f} MB at {full['versions']:,} ({load()})")

        stores = {"scan": ArtifactStore(LocalProvider(root)),
                  "sqlite": ArtifactStore(LocalProvider(root), index=sqlite_url)}
        if pg_url:
            stores["postgresql"] = ArtifactStore(LocalProvider(root), index=pg_url)
        print("\n-- find (median of 20; the scan once) --")
        for query in (SELECTIVE, COMPOUND):
            answers: dict[str, Any] = {}
            for name, store in stores.items():
                repeat = 1 if name == "scan" else 20
                if name == "scan" and args.quick:
                    continue
                seconds, page = await timed(functools.partial(store.find, query, limit=1000),
                                            repeat)
                answers[name] = (seconds, page.entries)
            scan = answers.get("scan", (None, None))
            for name, (seconds, entries) in answers.items():
                same = "" if scan[1] is None else f", same answer as scan: {entries == scan[1]}"
                ratio = "" if scan[0] is None or name == "scan" else (
                    f", {scan[0] / seconds:,.0f}x faster than the scan")
                print(f"{query!r} via {name}: {seconds * 1000:.1f} ms, {len(entries)} results"
                      f"{ratio}{same} ({load()})")

        print("\n-- list_artifacts('proj-017/'), 100 entries (median of 20) --")
        expected = await stores["scan"].list_artifacts("proj-017/")
        for name, store in stores.items():
            seconds, entries = await timed(functools.partial(store.list_artifacts, "proj-017/"),
                                           20)
            print(f"{name}: {seconds * 1000:.1f} ms, {len(entries)} entries, equal to no-index: "
                  f"{entries == expected} ({load()})")
        for store in stores.values():
            await store.aclose()

        print("\n-- store_artifact with and without a SQLite index (small text, fresh store) --")
        plain, indexed = await store_cost(args.stores, work)
        print(f"without: {plain:,.0f}/s, with SQLite index: {indexed:,.0f}/s = "
              f"{indexed / plain:.2f}x ({load()})")

        if not args.quick:
            print("\n-- rebuild from S3 --")
            print(await s3_rebuild(args.s3_versions, args.s3_versions // 5) + f" ({load()})")
    finally:
        if pg_url:
            drop_database(pg_name)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--rebuild-child"]:
        rebuild_child(sys.argv[2], sys.argv[3])
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--versions", type=int, default=100_000)
    parser.add_argument("--artifacts", type=int, default=20_000)
    parser.add_argument("--stores", type=int, default=1000, help="stores per write timing")
    parser.add_argument("--s3-versions", type=int, default=5000)
    parser.add_argument("--data", help="folder of the reused data set")
    parser.add_argument("--quick", action="store_true",
                        help="SQLite only, its index kept with the data set; no scan, no S3")
    asyncio.run(main(parser.parse_args()))
