"""Small files on local disk: storeroom's LocalProvider next to its peers.

5,000 files of 4 KiB written, read, listed and deleted, at concurrency 1 and 64,
through: plain synchronous Python (the practical limit), ``aiofiles`` (what the
vibex implementation uses; plain, non-atomic writes), obstore's ``LocalStore``,
and storeroom's ``LocalProvider``. Ratios are against plain synchronous Python,
which does the same work as storeroom, like for like:

- a write is atomic: a unique temp file (``O_EXCL``), then ``os.replace``;
  the row "sync, storeroom's calls" makes the system calls a storeroom put
  makes for its guarantees (see ``sync_write_guarded``), in plain Python: the
  floor storeroom's own ratio can approach;
- a listing gives every file with its size and time: ``os.scandir`` of each
  folder plus the ``stat`` it needs (``iter`` of 5,000 files in 50 folders,
  and ``list_dir`` of one folder of 5,000 files).

Run on the disk and on tmpfs, and quote both with ``uptime``'s load average::

    .venv/bin/python bench/bench_local.py --dir /tmp
    .venv/bin/python bench/bench_local.py --dir /dev/shm
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable

import aiofiles
import aiofiles.os
import obstore
from obstore.store import LocalStore

sys.path.insert(0, os.path.dirname(__file__))
from _harness import Case, gather_limited, print_table, run_case

from storeroom.providers.local import LocalProvider

PAYLOAD = os.urandom(4096)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
#: The folder of the list_dir case (left out of the recursive listing).
FLAT = "flat"


def _fstype(path: str) -> str:
    """The file system type of ``path`` (from /proc/mounts; longest mount point wins)."""
    best, kind = "", "?"
    with contextlib.suppress(OSError), open("/proc/mounts") as mounts:
        for line in mounts:
            fields = line.split()
            if path.startswith(fields[1]) and len(fields[1]) > len(best):
                best, kind = fields[1], fields[2]
    return kind


def _names(count: int) -> list[str]:
    return [f"d{n % 50:02d}/f{n:05d}.bin" for n in range(count)]


class Contenders:
    """The same four operations for each library, each over its own folder."""

    def __init__(self, base: str, names: list[str]) -> None:
        self.names = names
        self.roots = {
            name: os.path.join(base, name) for name in ("sync", "guarded", "aiofiles", "obstore")
        }
        for root in self.roots.values():
            os.makedirs(root)
            for folder in {os.path.dirname(n) for n in names}:
                os.makedirs(os.path.join(root, folder))
        self.local = LocalProvider(os.path.join(base, "storeroom"))
        self.store = LocalStore(self.roots["obstore"])

    # plain synchronous Python --------------------------------------------------
    def sync_write(self) -> None:
        root = self.roots["sync"]
        pid = os.getpid()
        for n, name in enumerate(self.names):
            path = os.path.join(root, name)
            tmp = f"{path}.{pid}-{n}.tmp"  # unique, as a concurrent writer's must be
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
            try:
                os.write(fd, PAYLOAD)
            finally:
                os.close(fd)
            os.replace(tmp, path)

    def sync_write_guarded(self) -> None:
        """The system calls a storeroom put makes, in plain Python: what its guarantees cost.

        The folder opened without following links (confinement), the temp file
        stamped with a fresh nanosecond mtime and ``fstat``-ed (an etag that is
        never reused), and the rename under the folder's ``flock`` (linearizable
        next to a compare-and-swap). No Python of storeroom's, no event loop:
        the floor a storeroom put can approach, not pass.
        """
        root_fd = os.open(self.roots["guarded"], _DIR_FLAGS)
        try:
            for n, name in enumerate(self.names):
                folder, _, leaf = name.rpartition("/")
                fd_dir = os.open(folder, _DIR_FLAGS, dir_fd=root_fd)
                try:
                    tmp = f".t-{n}"
                    fd = os.open(tmp, _TEMP_FLAGS, 0o666, dir_fd=fd_dir)
                    try:
                        os.write(fd, PAYLOAD)
                        stamp = time.time_ns()
                        os.utime(fd, ns=(stamp, stamp))
                        os.fstat(fd)
                    finally:
                        os.close(fd)
                    fcntl.flock(fd_dir, fcntl.LOCK_EX)
                    try:
                        os.replace(tmp, leaf, src_dir_fd=fd_dir, dst_dir_fd=fd_dir)
                    finally:
                        fcntl.flock(fd_dir, fcntl.LOCK_UN)
                finally:
                    os.close(fd_dir)
        finally:
            os.close(root_fd)

    def sync_read(self) -> None:
        root = self.roots["sync"]
        for name in self.names:
            with open(os.path.join(root, name), "rb") as f:
                f.read()

    def sync_list(self) -> None:
        found = _scan_with_stat(self.roots["sync"], recursive=True)
        assert len(found) == len(self.names)

    def sync_list_dir(self) -> None:
        found = _scan_with_stat(os.path.join(self.roots["sync"], FLAT), recursive=False)
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

    async def storeroom_list_dir(self) -> None:
        listing = await self.local.list_dir(FLAT)
        assert len(listing.objects) == len(self.names)


def _scan_with_stat(top: str, *, recursive: bool) -> list[tuple[str, int, float]]:
    """Every file under ``top`` with its size and time: scandir plus its stat."""
    found: list[tuple[str, int, float]] = []
    stack = [top]
    while stack:
        folder = stack.pop()
        with os.scandir(folder) as scan:
            for entry in scan:
                if entry.is_dir(follow_symlinks=False):
                    if recursive and entry.name != FLAT:
                        stack.append(entry.path)
                    continue
                st = entry.stat(follow_symlinks=False)
                found.append((entry.path, st.st_size, st.st_mtime))
    return found


def _make_flat(root: str, count: int) -> None:
    """A folder of ``count`` files of 4 KiB (the list_dir case)."""
    folder = os.path.join(root, FLAT)
    os.makedirs(folder)
    for n in range(count):
        with open(os.path.join(folder, f"f{n:05d}.bin"), "wb") as f:
            f.write(PAYLOAD)


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


async def main(count: int, repeat: int, where: str | None) -> None:
    base = tempfile.mkdtemp(prefix="storeroom-bench-", dir=where)
    try:
        c = Contenders(base, _names(count))
        cases: list[Case] = []
        for concurrency in (1, 64):
            at = f"x{count} @{concurrency}"
            writers: dict[str, Callable[[], Awaitable[object]]] = {
                "sync python": _sync(c.sync_write),
                "sync, storeroom's calls": _sync(c.sync_write_guarded),
                "aiofiles": _each(c.names, c.aiofiles_write, concurrency),
                "obstore LocalStore": _each(c.names, c.obstore_write, concurrency),
                "storeroom": _each(c.names, c.storeroom_write, concurrency),
            }
            write = Case(
                f"write 4 KiB {at}",
                count,
                writers,
                baseline="sync python",
                # Each writer starts with nothing of the others' left to write back
                # (on a disk, the writeback of one run slows whichever runs next).
                setup={name: _sync(os.sync) for name in writers},
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
            f"iter {count} files (50 folders)",
            count,
            {
                "sync python": _sync(c.sync_list),
                "obstore LocalStore": c.obstore_list,
                "storeroom": c.storeroom_list,
            },
            baseline="sync python",
        )
        cases.append(await run_case(listing, repeat))
        _make_flat(c.roots["sync"], count)
        _make_flat(c.local.root, count)
        flat = Case(
            f"list_dir {count} files (1 folder)",
            count,
            {"sync python": _sync(c.sync_list_dir), "storeroom": c.storeroom_list_dir},
            baseline="sync python",
        )
        cases.append(await run_case(flat, repeat))
        shutil.rmtree(os.path.join(c.roots["sync"], FLAT))
        shutil.rmtree(os.path.join(c.local.root, FLAT))
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
        load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
        print_table(
            f"{base} ({_fstype(base)}), {count} files of 4 KiB, load average {load} "
            "(ratio: vs plain sync Python)",
            cases,
        )
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", default=None, help="where to make the folders (default: TMPDIR)")
    args = parser.parse_args()
    asyncio.run(main(args.files, args.repeat, args.dir))
