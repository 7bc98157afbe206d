"""Small files on local disk: storeroom's LocalProvider next to its peers.

5,000 files of 4 KiB written, read, listed and deleted, at concurrency 1 and 64,
through: plain synchronous Python (atomic write by temp file and ``os.replace``:
the practical limit), ``aiofiles`` (what the vibex implementation uses; plain,
non-atomic writes), obstore's ``LocalStore``, and storeroom's ``LocalProvider``.
Ratios are against plain synchronous Python.

Run: ``.venv/bin/python bench/bench_local.py [--files N] [--repeat R]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable

import aiofiles
import aiofiles.os
import obstore
from obstore.store import LocalStore

sys.path.insert(0, os.path.dirname(__file__))
from _harness import Case, gather_limited, print_table, run_case

from storeroom.providers.local import LocalProvider

PAYLOAD = os.urandom(4096)


def _names(count: int) -> list[str]:
    return [f"d{n % 50:02d}/f{n:05d}.bin" for n in range(count)]


class Contenders:
    """The same four operations for each library, each over its own folder."""

    def __init__(self, base: str, names: list[str]) -> None:
        self.names = names
        self.roots = {name: os.path.join(base, name) for name in ("sync", "aiofiles", "obstore")}
        for root in self.roots.values():
            os.makedirs(root)
            for folder in {os.path.dirname(n) for n in names}:
                os.makedirs(os.path.join(root, folder))
        self.local = LocalProvider(os.path.join(base, "storeroom"))
        self.store = LocalStore(self.roots["obstore"])

    # plain synchronous Python --------------------------------------------------
    def sync_write(self) -> None:
        root = self.roots["sync"]
        for name in self.names:
            path = os.path.join(root, name)
            tmp = path + ".tmp"
            with open(tmp, "wb") as f:
                f.write(PAYLOAD)
            os.replace(tmp, path)

    def sync_read(self) -> None:
        root = self.roots["sync"]
        for name in self.names:
            with open(os.path.join(root, name), "rb") as f:
                f.read()

    def sync_list(self) -> None:
        root = self.roots["sync"]
        found = [os.path.join(d, f) for d, _, files in os.walk(root) for f in files]
        assert len(found) == len(self.names)

    def sync_delete(self) -> None:
        root = self.roots["sync"]
        for name in self.names:
            os.remove(os.path.join(root, name))

    # aiofiles ----------------------------------------------------------------
    async def aiofiles_write(self, name: str) -> None:
        async with aiofiles.open(os.path.join(self.roots["aiofiles"], name), "wb") as f:
            await f.write(PAYLOAD)

    async def aiofiles_read(self, name: str) -> None:
        async with aiofiles.open(os.path.join(self.roots["aiofiles"], name), "rb") as f:
            await f.read()

    async def aiofiles_delete(self, name: str) -> None:
        await aiofiles.os.remove(os.path.join(self.roots["aiofiles"], name))

    async def aiofiles_list(self) -> None:
        root = self.roots["aiofiles"]
        found = []
        for folder in await aiofiles.os.listdir(root):
            found += await aiofiles.os.listdir(os.path.join(root, folder))
        assert len(found) == len(self.names)

    # obstore LocalStore ------------------------------------------------------
    async def obstore_write(self, name: str) -> None:
        await obstore.put_async(self.store, name, PAYLOAD)

    async def obstore_read(self, name: str) -> None:
        result = await obstore.get_async(self.store, name)
        await result.bytes_async()

    async def obstore_delete(self, name: str) -> None:
        await obstore.delete_async(self.store, name)

    async def obstore_list(self) -> None:
        found = await obstore.list(self.store).collect_async()
        assert len(found) == len(self.names)

    # storeroom LocalProvider -------------------------------------------------
    async def storeroom_write(self, name: str) -> None:
        await self.local.put(name, PAYLOAD)

    async def storeroom_read(self, name: str) -> None:
        await self.local.read(name)

    async def storeroom_delete(self, name: str) -> None:
        await self.local.delete(name)

    async def storeroom_list(self) -> None:
        found = [meta async for meta in self.local.iter()]
        assert len(found) == len(self.names)


def _each(
    names: list[str], op: Callable[[str], Awaitable[None]], concurrency: int
) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        await gather_limited([lambda n=n: op(n) for n in names], concurrency)  # type: ignore[misc]

    return run


def _sync(func: Callable[[], None]) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        func()

    return run


async def main(count: int, repeat: int) -> None:
    base = tempfile.mkdtemp(prefix="storeroom-bench-")
    try:
        c = Contenders(base, _names(count))
        cases: list[Case] = []
        for concurrency in (1, 64):
            at = f"x{count} @{concurrency}"
            write = Case(
                f"write 4 KiB {at}",
                count,
                {
                    "sync python": _sync(c.sync_write),
                    "aiofiles": _each(c.names, c.aiofiles_write, concurrency),
                    "obstore LocalStore": _each(c.names, c.obstore_write, concurrency),
                    "storeroom": _each(c.names, c.storeroom_write, concurrency),
                },
                baseline="sync python",
            )
            read = Case(
                f"read 4 KiB {at}",
                count,
                {
                    "sync python": _sync(c.sync_read),
                    "aiofiles": _each(c.names, c.aiofiles_read, concurrency),
                    "obstore LocalStore": _each(c.names, c.obstore_read, concurrency),
                    "storeroom": _each(c.names, c.storeroom_read, concurrency),
                },
                baseline="sync python",
            )
            cases += [await run_case(write, repeat), await run_case(read, repeat)]
        listing = Case(
            f"list {count} files",
            count,
            {
                "sync python": _sync(c.sync_list),
                "aiofiles": c.aiofiles_list,
                "obstore LocalStore": c.obstore_list,
                "storeroom": c.storeroom_list,
            },
            baseline="sync python",
        )
        cases.append(await run_case(listing, repeat))
        delete = Case(
            f"delete 4 KiB x{count} @64",
            count,
            {
                "sync python": _sync(c.sync_delete),
                "aiofiles": _each(c.names, c.aiofiles_delete, 64),
                "obstore LocalStore": _each(c.names, c.obstore_delete, 64),
                "storeroom": _each(c.names, c.storeroom_delete, 64),
            },
            baseline="sync python",
            setup={
                "sync python": _sync(c.sync_write),
                "aiofiles": _each(c.names, c.aiofiles_write, 64),
                "obstore LocalStore": _each(c.names, c.obstore_write, 64),
                "storeroom": _each(c.names, c.storeroom_write, 64),
            },
        )
        cases.append(await run_case(delete, 1))
        await c.local.aclose()
        print_table(f"local disk, {count} files of 4 KiB (ratio: vs plain sync Python)", cases)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.files, args.repeat))
