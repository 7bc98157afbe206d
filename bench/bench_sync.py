"""storeroom.sync: the blocking API against plain synchronous Python and the async API.

- Local store, 4 KiB read and write, one after another: plain Python
  (``open().read()``; for writes also the atomic temp-file-and-rename that
  storeroom does) vs ``storeroom.sync.files`` vs the async ``FileStore``.
  Target: sync >= 0.5x of plain Python.
- S3 (moto's server, in its own process), 4 KiB put and get at concurrency 1:
  ``storeroom.sync`` vs the async API. Target: sync >= 0.9x of async.

Sync contenders are timed in plain threads' style: the calls are made from
the harness's coroutine, which only times them (no await between calls).
Run::

    .venv/bin/python bench/bench_sync.py [--ops 5000] [--s3-ops 300] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

import storeroom
from storeroom import sync

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import Case, print_table, run_case
from bench_s3 import BUCKET, KEY_ID, REGION, SECRET, moto_server

DATA = os.urandom(4096)


def _local_cases(root: Path, ops: int) -> list[Case]:
    plain_dir = root / "plain"
    plain_dir.mkdir()
    url = str(root / "store")
    blocking = sync.files(url)
    aio = storeroom.files(url)
    names = [f"f{i % 100}.bin" for i in range(ops)]
    for name in set(names):
        (plain_dir / name).write_bytes(DATA)
        blocking.write_bytes(name, DATA)

    async def plain_read() -> None:
        for name in names:
            with open(plain_dir / name, "rb") as handle:
                handle.read()

    async def sync_read() -> None:
        for name in names:
            blocking.read_bytes(name)

    async def async_read() -> None:
        for name in names:
            await aio.read_bytes(name)

    async def plain_write() -> None:
        for name in names:
            with open(plain_dir / name, "wb") as handle:
                handle.write(DATA)

    async def plain_atomic_write() -> None:
        for name in names:
            temp = plain_dir / f".{name}.tmp"
            with open(temp, "wb") as handle:
                handle.write(DATA)
            os.replace(temp, plain_dir / name)

    async def sync_write() -> None:
        for name in names:
            blocking.write_bytes(name, DATA)

    async def async_write() -> None:
        for name in names:
            await aio.write_bytes(name, DATA)

    return [
        Case(
            f"local read 4 KiB x{ops}",
            ops,
            {
                "plain python": plain_read,
                "storeroom.sync": sync_read,
                "storeroom async": async_read,
            },
            baseline="plain python",
        ),
        Case(
            f"local write 4 KiB x{ops}",
            ops,
            {
                "plain python": plain_write,
                "plain atomic write": plain_atomic_write,
                "storeroom.sync": sync_write,
                "storeroom async": async_write,
            },
            baseline="plain python",
        ),
    ]


def _s3_cases(endpoint: str, ops: int) -> list[Case]:
    url = (
        f"s3://{BUCKET}/sync-bench?endpoint={endpoint}&allow_http=true&region={REGION}"
        f"&access_key_id={KEY_ID}&secret_access_key={SECRET}"
    )
    blocking = sync.provider(url)
    aio = storeroom.provider(url)
    keys = [f"k{i}" for i in range(ops)]

    async def sync_put() -> None:
        for key in keys:
            blocking.write(key, DATA)

    async def async_put() -> None:
        for key in keys:
            await aio.write(key, DATA)

    async def sync_get() -> None:
        for key in keys:
            blocking.read(key)

    async def async_get() -> None:
        for key in keys:
            await aio.read(key)

    return [
        Case(
            f"s3 put 4 KiB x{ops} @1",
            ops,
            {"storeroom async": async_put, "storeroom.sync": sync_put},
            baseline="storeroom async",
        ),
        Case(
            f"s3 get 4 KiB x{ops} @1",
            ops,
            {"storeroom async": async_get, "storeroom.sync": sync_get},
            baseline="storeroom async",
        ),
    ]


async def _run(cases: list[Case], repeat: int) -> None:
    for case in cases:
        await run_case(case, repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ops", type=int, default=5000)
    parser.add_argument("--s3-ops", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as folder:
        local = _local_cases(Path(folder), args.ops)
        asyncio.run(_run(local, args.repeat))
    print_table("storeroom.sync on a local folder (target: sync >= 0.50x plain)", local)
    with moto_server() as endpoint:
        remote = _s3_cases(endpoint, args.s3_ops)
        asyncio.run(_run(remote, args.repeat))
    print_table("storeroom.sync on S3 / moto (target: sync >= 0.90x async)", remote)
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
