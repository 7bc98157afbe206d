"""fsspec on S3 (moto): storeroom's filesystem vs s3fs vs obstore's fsspec store.

Against moto's server, started here in its own process on 127.0.0.1, on the
same objects:

- pandas ``read_parquet`` of one 64 MiB Parquet file;
- ``pyarrow.dataset`` reading the same file (through ``FSSpecHandler``);
- ``cat`` of 1,000 small files (1 KiB) in one call.

Target: storeroom >= 1.0x of s3fs and of obstore's store on every row. Each
contender's blocking calls run in a worker thread (as a script would make
them); the harness alternates contenders, best of ``--repeat``. Run::

    .venv/bin/python bench/bench_fsspec.py [--mib 64] [--files 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import obstore
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import s3fs
from obstore.fsspec import FsspecStore
from obstore.store import S3Store
from pyarrow.fs import FSSpecHandler, PyFileSystem

from storeroom.fsspec_fs import StoreroomFileSystem

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import Case, print_table, run_case
from bench_s3 import BUCKET, KEY_ID, REGION, SECRET, moto_server

PREFIX = "fsspec-bench"


def _parquet(mib: int) -> bytes:
    rows = mib * 1024 * 1024 // 8 // 4
    rng = np.random.default_rng(1)
    table = pa.table({f"c{i}": rng.random(rows) for i in range(4)})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="none")
    return buffer.getvalue()


def _seed(endpoint: str, parquet: bytes, files: int) -> None:
    store = S3Store(
        BUCKET,
        endpoint=endpoint,
        region=REGION,
        access_key_id=KEY_ID,
        secret_access_key=SECRET,
        client_options={"allow_http": True},
    )
    obstore.put(store, f"{PREFIX}/big.parquet", parquet)
    for i in range(files):
        obstore.put(store, f"{PREFIX}/small/{i:04d}", os.urandom(1024))


def _contenders(endpoint: str) -> dict[str, tuple[Any, str]]:
    """name -> (filesystem, the path prefix of the bench's objects on it)."""
    url = (
        f"s3://{BUCKET}/{PREFIX}?endpoint={endpoint}&allow_http=true&region={REGION}"
        f"&access_key_id={KEY_ID}&secret_access_key={SECRET}"
    )
    storeroom_fs = StoreroomFileSystem(url)
    s3 = s3fs.S3FileSystem(
        key=KEY_ID,
        secret=SECRET,
        endpoint_url=endpoint,
        client_kwargs={"region_name": REGION},
        skip_instance_cache=True,
    )
    obstore_fs = FsspecStore(
        "s3",
        config={
            "endpoint": endpoint,
            "region": REGION,
            "access_key_id": KEY_ID,
            "secret_access_key": SECRET,
        },
        client_options={"allow_http": True},
        skip_instance_cache=True,
    )
    return {
        "storeroom": (storeroom_fs, ""),
        "s3fs": (s3, f"{BUCKET}/{PREFIX}/"),
        "obstore fsspec": (obstore_fs, f"{BUCKET}/{PREFIX}/"),
    }


def _threaded(work: Callable[[], object]) -> Callable[[], Any]:
    async def run() -> object:
        return await asyncio.to_thread(work)

    return run


def _cases(contenders: dict[str, tuple[Any, str]], mib: int, files: int) -> list[Case]:
    def pandas_read(fs: Any, base: str) -> Callable[[], object]:
        return lambda: pd.read_parquet(base + "big.parquet", filesystem=fs)

    def dataset_read(fs: Any, base: str) -> Callable[[], object]:
        arrow_fs = PyFileSystem(FSSpecHandler(fs))
        return lambda: ds.dataset(base + "big.parquet", filesystem=arrow_fs).to_table()

    def cat_small(fs: Any, base: str) -> Callable[[], object]:
        paths = [f"{base}small/{i:04d}" for i in range(files)]

        def work() -> object:
            out = fs.cat(paths)
            assert len(out) == files
            return out

        return work

    def row(name: str, ops: int, make: Callable[[Any, str], Callable[[], object]]) -> Case:
        return Case(
            name,
            ops,
            {who: _threaded(make(fs, base)) for who, (fs, base) in contenders.items()},
            baseline="s3fs",
        )

    return [
        row(f"pandas read_parquet {mib} MiB", 1, pandas_read),
        row(f"pyarrow.dataset {mib} MiB", 1, dataset_read),
        row(f"cat {files} x 1 KiB", files, cat_small),
    ]


async def _run(cases: list[Case], repeat: int) -> None:
    for case in cases:
        await run_case(case, repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()}")
    parquet = _parquet(args.mib)
    with moto_server() as endpoint:
        _seed(endpoint, parquet, args.files)
        cases = _cases(_contenders(endpoint), args.mib, args.files)
        asyncio.run(_run(cases, args.repeat))
    print_table("fsspec on S3 / moto (target: storeroom >= 1.00x of s3fs and obstore)", cases)
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
