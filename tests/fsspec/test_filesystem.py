"""The storeroom fsspec filesystem: registration, ranges, streaming, artifacts, error doors."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import fsspec
import pytest

import storeroom
from storeroom import ArtifactStore
from storeroom.errors import InvalidPath, PermissionDenied
from storeroom.fsspec_fs import StoreroomFileSystem, filesystem

from ..sync.test_runner import _in_child


class Counting:
    """Counts the provider calls the filesystem makes (wraps the methods in place)."""

    def __init__(self, provider: Any, names: tuple[str, ...]) -> None:
        self.calls: dict[str, int] = dict.fromkeys(names, 0)
        for name in names:
            original = getattr(provider, name)

            def counted(*args: Any, _name: str = name, _f: Any = original, **kw: Any) -> Any:
                self.calls[_name] += 1
                return _f(*args, **kw)

            setattr(provider, name, counted)


def test_registered_through_the_entry_point_without_an_import() -> None:
    code = (
        "import sys, fsspec\n"
        "fs = fsspec.filesystem('storeroom', store='memory://')\n"
        "fs.pipe_file('a', b'1')\n"
        "assert fs.cat_file('a') == b'1'\n"
        "print(type(fs).__module__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "storeroom.fsspec_fs.filesystem"


def test_filesystem_on_objects_you_have() -> None:
    blocking = storeroom.sync.provider("memory://")
    blocking.write("a.txt", b"shared")
    assert filesystem(blocking).cat_file("a.txt") == b"shared"
    assert filesystem(blocking.aio).cat_file("a.txt") == b"shared"
    versions = storeroom.sync.artifacts("memory://")
    versions.store_artifact("n", "v")
    assert filesystem(versions).cat_file("n@v1") == b"v"


def test_no_instance_cache() -> None:
    first = fsspec.filesystem("storeroom", store="memory://")
    assert fsspec.filesystem("storeroom", store="memory://") is not first


def test_ranges_and_listing(url: str) -> None:
    fs = StoreroomFileSystem(url)
    fs.pipe({"d/a.txt": b"0123456789", "d/sub/b.txt": b"bb", "d2/c": b"c"})
    assert fs.cat_file("d/a.txt", 2, 5) == b"234"
    assert fs.cat_file("d/a.txt", -3) == b"789"
    assert fs.cat_file("d/a.txt", 8, 100) == b"89"
    assert fs.cat_file("d/a.txt", 5, 5) == b""
    assert fs.cat_ranges(["d/a.txt", "d/sub/b.txt"], [0, 1], [2, 2]) == [b"01", b"b"]
    [missing] = fs.cat_ranges(["d/none"], [0], [1])
    assert isinstance(missing, FileNotFoundError)
    assert fs.info("d")["type"] == "directory"
    assert fs.info("d/a.txt")["size"] == 10
    assert fs.ls("d", detail=False) == ["d/sub", "d/a.txt"]
    assert fs.ls("d/a.txt", detail=False) == ["d/a.txt"]
    assert fs.find("d") == ["d/a.txt", "d/sub/b.txt"]
    detail = fs.find("", detail=True)
    assert detail["d2/c"]["size"] == 1
    assert fs.find("", withdirs=True) == ["d", "d/a.txt", "d/sub", "d/sub/b.txt", "d2", "d2/c"]
    assert fs.find("d/a.txt") == ["d/a.txt"]
    fs.rm("d", recursive=True)
    assert fs.find("") == ["d2/c"]


def test_put_and_get_stream(tmp_path: Path, url: str) -> None:
    fs = StoreroomFileSystem(url)
    local = tmp_path / "up.bin"
    local.write_bytes(os.urandom(1000))
    fs.put_file(str(local), "up/file.bin")
    fs.get_file("up/file.bin", str(tmp_path / "down.bin"))
    assert (tmp_path / "down.bin").read_bytes() == local.read_bytes()
    with pytest.raises(FileNotFoundError):
        fs.get_file("up/missing.bin", str(tmp_path / "never.bin"))
    assert not (tmp_path / "never.bin").exists()
    assert not list(tmp_path.glob("never.bin.part-*"))


def test_open_reads_ranges_and_streams_writes() -> None:
    provider = storeroom.provider("memory://")
    fs = filesystem(provider)
    data = os.urandom(3 * 1024 * 1024)
    counts = Counting(
        provider, ("put", "write_stream", "read", "get", "read_range", "read_range_view")
    )
    with fs.open("big.bin", "wb", block_size=1024 * 1024) as handle:
        for start in range(0, len(data), 256 * 1024):
            handle.write(data[start : start + 256 * 1024])
    assert counts.calls["write_stream"] == 1  # one upload fed block by block
    puts = counts.calls["put"]  # (memory's write_stream ends in one put)
    with fs.open("big.bin", "rb", block_size=256 * 1024) as handle:
        handle.seek(2 * 1024 * 1024)
        assert handle.read(10) == data[2 * 1024 * 1024 : 2 * 1024 * 1024 + 10]
    assert counts.calls["read"] == counts.calls["get"] == 0  # no whole-object reads
    assert counts.calls["read_range"] == 0
    assert counts.calls["read_range_view"] == 1  # one ranged fetch, handed over as it came
    with fs.open("small.txt", "wb") as handle:
        handle.write(b"small")
    assert counts.calls["put"] == puts + 1  # a file below one block is one put
    assert counts.calls["write_stream"] == 1


def test_a_failed_write_leaves_nothing() -> None:
    fs = filesystem(storeroom.provider("memory://"))

    def fail_midway() -> None:
        with fs.open("x.bin", "wb", block_size=1 << 20) as handle:
            handle.write(b"x" * (3 << 20))  # the upload has started
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_midway()
    assert not fs.exists("x.bin")


def test_bad_input_through_every_door(url: str) -> None:
    fs = StoreroomFileSystem(url)
    with pytest.raises(FileNotFoundError):
        fs.cat_file("../x")
    with pytest.raises(FileNotFoundError):
        fs.open("../x", "rb")
    with pytest.raises(FileNotFoundError):
        fs.info("nowhere/at/all")
    with pytest.raises(InvalidPath):
        fs.pipe_file("../x", b"1")
    with pytest.raises(storeroom.NotSupported):
        fs.open("a.txt", "ab")
    with pytest.raises(storeroom.ConfigurationError, match="unknown storage options"):
        StoreroomFileSystem(storeroom.provider("memory://"), colour="red")
    with pytest.raises(storeroom.ConfigurationError, match="needs a store"):
        fsspec.open("storeroom://a.txt", "rb").open()


def test_names_other_tools_wrote_are_read_as_they_are_listed(tmp_path: Path) -> None:
    names = ["trail.", "con.txt", "cafe\u0301.md", "dir./in.txt"]
    for name in names:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(name.encode())
    fs = StoreroomFileSystem(str(tmp_path))
    assert sorted(fs.find("")) == sorted(names)
    for name in names:
        assert fs.exists(name)
        assert fs.info(name)["size"] == len(name.encode())
        assert fs.cat_file(name) == name.encode()
        with fs.open(name, "rb") as f:
            assert f.read() == name.encode()
        fs.rm(name)
        assert not fs.exists(name)
    with pytest.raises(InvalidPath):  # a new name still follows the rules for new keys
        fs.pipe_file("trail.", b"1")


def test_a_folder_is_not_opened_as_an_empty_file(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "x").write_bytes(b"x")
    fs = StoreroomFileSystem(str(tmp_path))
    with pytest.raises(IsADirectoryError):
        fs.open("folder", "rb")


def test_xb_of_a_large_file_is_exclusive_to_the_end(tmp_path: Path) -> None:
    fs = StoreroomFileSystem(str(tmp_path))
    f = fs.open("new.bin", "xb", block_size=2**20)
    f.write(b"A" * 3 * 2**20)  # more than a block: written out before close
    (tmp_path / "new.bin").write_bytes(b"another writer's")
    with pytest.raises(FileExistsError):
        f.close()
    assert (tmp_path / "new.bin").read_bytes() == b"another writer's"
    with fs.open("fresh.bin", "xb", block_size=2**20) as f:
        f.write(b"B" * 3 * 2**20)
    assert fs.cat_file("fresh.bin") == b"B" * 3 * 2**20


def test_get_file_onto_a_folder_in_the_way_leaves_no_part_file(tmp_path: Path) -> None:
    store, local = tmp_path / "store", tmp_path / "local"
    store.mkdir()
    (store / "f.txt").write_bytes(b"data")
    (local / "in-the-way").mkdir(parents=True)
    (local / "in-the-way" / "keep").write_bytes(b"k")
    fs = StoreroomFileSystem(str(store))
    with pytest.raises(IsADirectoryError):
        fs.get_file("f.txt", str(local / "in-the-way"))
    assert sorted(p.name for p in local.iterdir()) == ["in-the-way"]


def test_artifacts_as_versioned_read_only_paths() -> None:
    provider = storeroom.provider("memory://")
    store = storeroom.sync.wrap(ArtifactStore(provider))
    store.store_artifact("reports/q1", "one")
    store.store_artifact("reports/q1", "two")
    store.set_alias("reports/q1", "approved", "v1")
    fs = StoreroomFileSystem(provider, artifacts=True)
    assert fs.cat_file("reports/q1@v1") == b"one"
    assert fs.cat_file("reports/q1@1") == b"one"
    assert fs.cat_file("reports/q1@approved") == b"one"
    assert fs.cat_file("reports/q1") == b"two"
    assert fs.ls("", detail=False) == ["reports"]
    assert fs.ls("reports", detail=False) == ["reports/q1", "reports/q1@v1", "reports/q1@v2"]
    assert fs.info("reports/q1@v2")["version"] == "v2"
    assert fs.info("reports")["type"] == "directory"
    with pytest.raises(FileNotFoundError):
        fs.cat_file("reports/q1@v9")
    with pytest.raises(FileNotFoundError):
        fs.cat_file("reports/q1@nope")
    with pytest.raises(PermissionDenied):
        fs.pipe_file("reports/q1", b"x")
    with pytest.raises(PermissionDenied):
        fs.open("reports/q1", "wb")
    # pinned versions are cached; latest is resolved on every read, never stale
    counts = Counting(fs.artifact_store, ("get_artifact_bytes",))
    for _ in range(3):
        assert fs.cat_file("reports/q1@v1") == b"one"
    assert counts.calls["get_artifact_bytes"] == 0  # read once above, then from memory
    store.store_artifact("reports/q1", "three")
    assert fs.cat_file("reports/q1") == b"three"
    store.set_alias("reports/q1", "approved", "v3")
    assert fs.cat_file("reports/q1@approved") == b"three"


def test_inside_a_running_loop_and_after_fork(tmp_path: Path) -> None:
    fs = StoreroomFileSystem(str(tmp_path))
    fs.pipe_file("a.txt", b"parent")

    async def cell() -> bytes:
        data: bytes = fs.cat_file("a.txt")
        return data

    assert asyncio.run(cell()) == b"parent"

    def check() -> None:
        assert fs.cat_file("a.txt") == b"parent"
        fs.pipe_file("child.txt", b"child")

    assert _in_child(check) == 0
    assert fs.cat_file("child.txt") == b"child"


async def test_async_callers_get_coroutines() -> None:
    fs = StoreroomFileSystem("memory://", asynchronous=True)
    await fs._pipe_file("a", b"1")
    assert await fs._cat_file("a") == b"1"
    assert (await fs._info("a"))["size"] == 1


def test_read_ahead_fetches_a_block_for_small_reads_and_no_more_for_large() -> None:
    from storeroom.fsspec_fs.file import ReadAhead

    data = bytes(range(256)) * 40  # 10,240 bytes
    fetched: list[tuple[int, int]] = []

    def fetch(start: int, end: int) -> bytes:
        fetched.append((start, end))
        return data[start:end]

    cache = ReadAhead(1000, fetch, len(data))
    assert cache._fetch(0, 10) == data[:10]
    assert cache._fetch(10, 900) == data[10:900]  # inside the block read ahead
    assert fetched == [(0, 1000)]
    assert cache._fetch(500, 4500) == data[500:4500]  # front cached, the rest exactly
    assert fetched[-1] == (1000, 4500)
    assert cache._fetch(9000, None) == data[9000:]
    assert fetched[-1] == (9000, len(data))
    assert cache._fetch(len(data), None) == b""


def test_blocking_calls_on_a_local_store_need_no_thread_hop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storeroom.sync import runner as runner_module

    handed: list[int] = []
    resume = runner_module._resume

    def counting(coro: Any, first: Any) -> Any:
        handed.append(1)
        return resume(coro, first)

    monkeypatch.setattr(runner_module, "_resume", counting)
    fs = StoreroomFileSystem(str(tmp_path))
    fs.pipe_file("a.txt", b"local")
    assert fs.cat_file("a.txt") == b"local"
    assert fs.info("a.txt")["size"] == 5
    assert fs.ls("", detail=False) == ["a.txt"]
    assert handed == []  # all ran in this thread
    assert fs.cat_file("a.txt", timeout=5) == b"local"  # fsspec's timeout keyword still works


def test_read_ahead_doubles_for_a_sequential_reader_up_to_its_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from storeroom.fsspec_fs import file

    monkeypatch.setattr(file, "MAX_WINDOW", 4000)
    data = bytes(range(256)) * 100  # 25,600 bytes
    fetched: list[tuple[int, int]] = []

    def fetch(start: int, end: int) -> bytes:
        fetched.append((start, end))
        return data[start:end]

    cache = file.ReadAhead(1000, fetch, len(data))
    position = 0
    while position < len(data):  # read through in 700-byte reads
        assert cache._fetch(position, position + 700) == data[position : position + 700]
        position += 700
    assert fetched == [
        (0, 1000), (1000, 3000), (3000, 7000), (7000, 11000), (11000, 15000),
        (15000, 19000), (19000, 23000), (23000, 25600),
    ]  # fmt: skip
    assert cache._fetch(100, 200) == data[100:200]  # a jump back: one block again
    assert fetched[-1] == (100, 1100)


def test_read_buffer_hands_out_views_of_what_was_fetched(tmp_path: Path) -> None:
    data = os.urandom(300_000)
    fs = StoreroomFileSystem(f"file://{tmp_path}")
    fs.pipe_file("big.bin", data)
    with fs.open("big.bin", "rb", block_size=100_000) as handle:
        first = handle.read_buffer(1000)
        assert isinstance(first, memoryview)
        assert first.readonly
        assert first == data[:1000]
        second = handle.read_buffer(5000)  # inside the block fetched: the same buffer
        assert second == data[1000:6000]
        assert second.obj is first.obj
        handle.seek(99_000)
        across = handle.read_buffer(2000)  # a cached front joined to the next fetch
        assert across == data[99_000:101_000]
        assert handle.read() == data[101_000:]
        assert handle.read_buffer() == b""
        assert handle.read_buffer(10) == b""
    with fs.open("big.bin", "rb") as handle:
        whole = handle.read()
        assert type(whole) is bytes
        assert whole == data
    with pytest.raises(ValueError, match="closed"):
        handle.read_buffer(1)


def test_a_maxdepth_below_one_is_refused() -> None:
    fs = filesystem(storeroom.provider("memory://"))
    fs.pipe_file("d/a.txt", b"a")
    with pytest.raises(ValueError, match="maxdepth must be at least 1"):
        fs.find("d", maxdepth=0)
    for pattern in ("d", "d/*"):
        with pytest.raises(ValueError, match="maxdepth must be at least 1"):
            fs.expand_path(pattern, recursive=True, maxdepth=0)
    assert fs.find("d", maxdepth=1) == ["d/a.txt"]
