"""``storeroom cp --recursive`` vs the provider API, 1,000 small files to S3 and back.

The same copy two ways, at the same concurrency, against moto's S3 server
(started here in its own process, so neither contender shares an interpreter
with it):

- ``cli``: the real program, ``storeroom cp -r SRC DST -j N --no-progress``, one
  process per run: start-up, imports and provider set-up are all timed;
- ``cli --progress``: the same with the progress bar drawn (to a pipe here);
- ``provider API``: one Python process calling the providers directly,
  ``LocalProvider`` <-> ``S3Provider``: list the source, then read and write
  each file with ``N`` in flight (the baseline).

Each contender copies into its own prefix (uploads) or folder (downloads);
the harness alternates contenders and keeps the best of ``--repeat`` runs.
The target is a ratio of at least 0.8 for the CLI. Run::

    .venv/bin/python bench/bench_cli_copy.py [--files 1000] [--concurrency 16] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import Case, gather_limited, print_table, run_case
from bench_s3 import BUCKET, KEY_ID, REGION, SECRET, moto_server

import storeroom
from storeroom.providers.base import Provider

PROGRAM = Path(sys.executable).with_name("storeroom")
FILE_SIZE = 4096
#: Contender -> its tag (S3 prefix; local folder ``<tag>-back`` for downloads).
CONTENDERS = {"provider API": "api", "cli": "cli", "cli --progress": "bar"}


def _make_files(root: Path, count: int) -> None:
    for number in range(count):
        path = root / f"d{number % 20:02d}" / f"file{number:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(FILE_SIZE))


async def _program(*args: str) -> None:
    """Run ``storeroom ARGS``; fail loudly if it fails."""
    process = await asyncio.create_subprocess_exec(
        str(PROGRAM), *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"storeroom {' '.join(args[:2])} failed: {err.decode()[-500:]}")


async def _api_copy(src: Provider, dst: Provider, concurrency: int) -> int:
    """List ``src`` and copy every object to ``dst`` with ``concurrency`` in flight."""
    keys = await src.list()

    async def copy(key: str) -> None:
        await dst.put(key, await src.read(key))

    await gather_limited([partial(copy, key) for key in keys], concurrency)
    return len(keys)


class Bench:
    """The contenders, over one local folder and one moto bucket."""

    def __init__(self, endpoint: str, base: Path, count: int, concurrency: int) -> None:
        self.query = (
            f"endpoint={endpoint}&allow_http=true&region={REGION}"
            f"&access_key_id={KEY_ID}&secret_access_key={SECRET}"
        )
        self.base = base
        self.count = count
        self.concurrency = concurrency
        self.source = base / "source"
        _make_files(self.source, count)

    def url(self, prefix: str) -> str:
        return f"s3://{BUCKET}/{prefix}?{self.query}"

    def folder(self, name: str) -> Path:
        return self.base / name

    def _cli(self, src: str, dst: str, *extra: str) -> Callable[[], Awaitable[None]]:
        args = ("cp", "-r", src, dst, "-j", str(self.concurrency), *extra)

        async def run() -> None:
            await _program(*args)

        return run

    def _api(self, src: str, dst: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            async with storeroom.provider(src) as source, storeroom.provider(dst) as target:
                assert await _api_copy(source, target, self.concurrency) == self.count

        return run

    def case(self, direction: str) -> Case:
        """The ``upload`` (local -> S3) or ``download`` (S3 -> local) row."""
        contenders: dict[str, Callable[[], Awaitable[object]]] = {}
        for label, tag in CONTENDERS.items():
            remote, local = self.url(tag), str(self.folder(f"{tag}-back"))
            src, dst = (str(self.source), remote) if direction == "upload" else (remote, local)
            if tag == "api":
                contenders[label] = self._api(src, dst)
            else:
                contenders[label] = self._cli(
                    src, dst, f"--{'' if tag == 'bar' else 'no-'}progress"
                )
        return Case(
            name=f"{direction} {self.count} x 4 KiB @{self.concurrency}",
            ops=self.count,
            baseline="provider API",
            contenders=contenders,
        )

    def check(self) -> None:
        """Every contender's download is a byte-for-byte copy of the source."""
        for name in (f"{tag}-back" for tag in CONTENDERS.values()):
            copied = sorted(
                p.relative_to(self.folder(name)) for p in self.folder(name).rglob("*.bin")
            )
            assert len(copied) == self.count, name
            for relative in copied[:: max(1, self.count // 50)]:
                assert (self.folder(name) / relative).read_bytes() == (
                    self.source / relative
                ).read_bytes()


async def main(count: int, concurrency: int, repeat: int) -> None:
    base = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    try:
        with moto_server() as endpoint:
            bench = Bench(endpoint, base, count, concurrency)
            upload = await run_case(bench.case("upload"), repeat)
            download = await run_case(bench.case("download"), repeat)
            bench.check()
        print_table(
            "storeroom cp --recursive vs the provider API (moto S3, local disk)", [upload, download]
        )
        for case in (upload, download):
            base_rate = next(r.rate for r in case.results if r.contender == case.baseline)
            cli_rate = next(r.rate for r in case.results if r.contender == "cli")
            verdict = "meets" if cli_rate / base_rate >= 0.8 else "MISSES"
            print(
                f"{case.name}: cli / provider API = {cli_rate / base_rate:.2f}x ({verdict} >= 0.8x)"
            )
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    asyncio.run(main(options.files, options.concurrency, options.repeat))
