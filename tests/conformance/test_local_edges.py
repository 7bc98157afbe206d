"""Local-only edges (issue 10): a folder shared with other tools and with time.

- ``rename`` onto a path whose parent is a file names the destination;
- a root folder removed and made again is picked up (never through a symlink
  swapped in for it);
- names other tools wrote (``draft.``, ``con.txt``, NFD) are listed, read,
  copied and deleted;
- what is not a regular file (a pipe, a socket) is no object: never listed;
- a folder a listing cannot read is reported (skipped, with why), never hidden;
- storeroom leaves none of its own files in the user's folders.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from storeroom import AlreadyExists, IfMatch, NotFound, NotSupported, StorageError
from storeroom.filestore import FileStore
from storeroom.providers.local import LocalProvider
from storeroom.providers.local.posix import TEMP_PREFIX, RootDir

FOREIGN = ("draft.", "con.txt", "cafe\u0301.md", "trailing ", "dir./NUL", "x\udcff.bin")


def own_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if ".sr-" in p.name)


async def test_rename_onto_a_file_in_the_way_names_the_destination(tmp_path: Path) -> None:
    async with LocalProvider(tmp_path / "root") as provider:
        await provider.put("src.txt", b"s")
        await provider.put("blocker", b"b")
        with pytest.raises(NotSupported) as caught:
            await provider.rename("src.txt", "blocker/dst.txt")
        assert caught.value.path == "blocker/dst.txt"
        assert await provider.read("src.txt") == b"s"
        with pytest.raises(NotFound) as missing:
            await provider.rename("gone.txt", "blocker/dst.txt")
        assert missing.value.path == "gone.txt"


async def test_a_root_removed_and_made_again_is_used(tmp_path: Path) -> None:
    root = tmp_path / "root"
    async with LocalProvider(root) as provider:
        await provider.put("a/one", b"1")
        shutil.rmtree(root)
        root.mkdir()
        await provider.put("a/two", b"2")  # every write failed here before
        assert (root / "a" / "two").read_bytes() == b"2"
        assert await provider.list() == ["a/two"]
        (root / "three").write_bytes(b"3")  # another process wrote into the new root
        assert await provider.read("three") == b"3"


async def test_a_symlink_swapped_in_for_the_root_is_never_followed(tmp_path: Path) -> None:
    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere"
    elsewhere.mkdir()
    async with LocalProvider(root) as provider:
        await provider.put("a", b"1")
        shutil.rmtree(root)
        root.symlink_to(elsewhere)
        with pytest.raises(StorageError):
            await provider.put("b", b"2")
        assert list(elsewhere.iterdir()) == []


async def test_names_other_tools_wrote_are_listed_read_copied_and_deleted(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    for n, name in enumerate(FOREIGN):
        path = root / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(bytes([n]) * 3)
    async with LocalProvider(root) as provider:
        assert await provider.list() == sorted(FOREIGN)
        for n, name in enumerate(FOREIGN):
            assert await provider.read(name) == bytes([n]) * 3
            assert (await provider.head(name)).size == 3
            await provider.copy(name, f"copies/{n}")
            await provider.delete(name)
            assert not await provider.exists(name)
        assert await provider.list() == [f"copies/{n}" for n in range(len(FOREIGN))]


async def test_pipes_and_sockets_in_a_folder_are_not_objects(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "run").mkdir(parents=True)
    os.mkfifo(root / "run" / "pipe")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(root / "run" / "sock"))
    (root / "run" / "plain.txt").write_bytes(b"plain")
    try:
        async with LocalProvider(root) as provider:
            assert await provider.list() == ["run/plain.txt"]
            assert [meta.path async for meta in provider.iter("run/")] == ["run/plain.txt"]
            listing = await provider.list_dir("run/")
            assert [meta.path for meta in listing.objects] == ["run/plain.txt"]
            assert listing.objects[0].size == 5
            for name in ("run/pipe", "run/sock"):
                assert not await provider.exists(name)
                assert isinstance(await _read_unblocking(root, name), NotFound)
    finally:
        listener.close()


async def _read_unblocking(root: Path, name: str) -> BaseException | None:
    """What reading ``name`` raises, read in a thread by a provider of its own; a read
    stuck opening a pipe (waiting for a writer) is freed and fails the test."""

    def attempt() -> BaseException | None:
        async def read() -> None:
            async with LocalProvider(root) as provider:
                await provider.read(name)

        try:
            asyncio.run(read())
        except Exception as exc:
            return exc
        return None

    reading = asyncio.ensure_future(asyncio.to_thread(attempt))
    done, _ = await asyncio.wait({reading}, timeout=10)
    if not done:
        os.close(os.open(root / name, os.O_WRONLY | os.O_NONBLOCK))  # a writer frees it
        await reading
        pytest.fail(f"reading {name!r} waited for a writer to open the pipe")
    return reading.result()


_UNREADABLE_FOLDERS = """
import asyncio, json, os, sys
from storeroom.providers.local import LocalProvider

async def main(root):
    out = {}
    async with LocalProvider(root) as provider:
        skipped = []
        out["all"] = [meta.path async for meta in provider.iter("", skipped=skipped)]
        out["skipped"] = sorted([item.path, item.reason] for item in skipped)
        for folder in ("no-search/", "no-read/"):
            for call in ("list", "list_dir"):
                try:
                    await getattr(provider, call)(folder)
                    out[call + " " + folder] = "listed"
                except Exception as exc:
                    out[call + " " + folder] = type(exc).__name__
    print(json.dumps(out))

asyncio.run(main(sys.argv[1]))
"""


def test_folders_that_cannot_be_read_are_reported_not_hidden() -> None:
    """Run as a user without the permissions (root passes every permission check)."""
    base = Path(tempfile.mkdtemp(prefix="sr-perm-"))
    try:
        base.chmod(0o777)
        for folder, mode in (("no-search", 0o600), ("no-read", 0o300)):
            (base / folder).mkdir()
            (base / folder / "f").write_bytes(b"x")
            (base / folder).chmod(mode)
        (base / "top").write_bytes(b"x")
        command = [sys.executable, "-c", _UNREADABLE_FOLDERS, str(base)]
        if os.geteuid() == 0:
            if shutil.which("setpriv") is None:
                pytest.skip("running as root, and setpriv (util-linux) is missing to drop it")
            command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
            for path in (base / "top", base / "no-search", base / "no-read"):
                os.chown(path, 65534, 65534)  # the owner's bits are the ones that count
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == {
            "all": ["top"],
            "skipped": [
                ["no-read/", "the folder cannot be read: Permission denied"],
                ["no-search/", "its files cannot be read: Permission denied"],
            ],
            "list no-search/": "PermissionDenied",
            "list_dir no-search/": "PermissionDenied",
            "list no-read/": "PermissionDenied",
            "list_dir no-read/": "PermissionDenied",
        }
    finally:
        for folder in ("no-search", "no-read"):
            (base / folder).chmod(0o700)
        shutil.rmtree(base)


async def test_a_listing_that_runs_out_of_descriptors_fails_typed_and_leaks_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "root"
    for n in range(3):
        (root / f"d{n}" / "e").mkdir(parents=True)
        (root / f"d{n}" / "e" / "f").write_bytes(b"x")
    entries = RootDir.entries
    calls = 0

    def failing(fd: int) -> list[tuple[str, os.DirEntry[str]]]:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise OSError(errno.EMFILE, "Too many open files")
        return entries(fd)

    async with LocalProvider(root) as provider:
        before = len(os.listdir("/proc/self/fd"))
        monkeypatch.setattr(RootDir, "entries", staticmethod(failing))
        with pytest.raises(StorageError, match="Too many open files"):
            await provider.list()
        assert len(os.listdir("/proc/self/fd")) == before


async def test_rename_onto_a_hard_link_of_itself_moves_it(tmp_path: Path) -> None:
    """``rename(2)`` between two names of one file does nothing; a rename must still move."""
    root = tmp_path / "root"
    (root / "d").mkdir(parents=True)
    (root / "a").write_bytes(b"data")
    os.link(root / "a", root / "d" / "b")
    async with LocalProvider(root) as provider:
        with pytest.raises(AlreadyExists):
            await provider.rename("a", "d/b", overwrite=False)
        await provider.rename("a", "d/b")
        assert await provider.list() == ["d/b"]
        assert await provider.read("d/b") == b"data"


async def test_appending_to_a_folder_or_a_pipe_fails_at_once(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "dir.txt").mkdir(parents=True)
    os.mkfifo(root / "pipe.txt")
    async with FileStore(LocalProvider(root)) as store:
        for name in ("dir.txt", "pipe.txt"):
            started = time.monotonic()
            result = await store.append_text(name, "line\n")
            assert (result.success, result.metadata["code"]) == (False, "not_supported")
            assert "not a file" in (result.error or "")
            assert time.monotonic() - started < 2  # not after a round of retries
    assert stat.S_ISFIFO((root / "pipe.txt").lstat().st_mode)


async def test_storeroom_leaves_no_files_of_its_own_in_the_users_folders(tmp_path: Path) -> None:
    root = tmp_path / "root"
    async with LocalProvider(root) as provider:
        for key in ("top.txt", "deep/er/x.txt"):
            meta = await provider.put(key, b"1")
            assert meta.etag is not None
            await provider.put(key, b"2", mode=IfMatch(meta.etag))
            await provider.put(key + ".new", b"3", mode="create")
            await provider.rename(key + ".new", key + ".moved")
            await provider.write_stream(key, [b"4", b"5"])
            await provider.delete(key + ".moved")
    assert own_files(root) == []
    assert sorted(os.listdir(root)) == ["deep", "top.txt"]


async def test_opening_scans_nothing_and_a_write_sweeps_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    gone = await asyncio.create_subprocess_exec("true")  # its pid is gone once reaped
    await gone.wait()
    dead = f"{TEMP_PREFIX}{gone.pid:x}-dead-0"
    (root / "sub" / dead).write_bytes(b"left by a crash")

    def refuse(*args: object) -> None:
        raise AssertionError("opening a provider scanned a folder")

    with monkeypatch.context() as patched:
        patched.setattr(os, "scandir", refuse)
        patched.setattr(os, "walk", refuse)
        provider = LocalProvider(root)
    async with provider:
        await provider.put("other/x", b"x")
        assert (root / "sub" / dead).exists()  # only the folder written into is swept
        await provider.put("sub/y", b"y")
        assert not (root / "sub" / dead).exists()
        assert own_files(root) == []
