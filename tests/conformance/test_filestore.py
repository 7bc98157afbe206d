"""FileStore (the seed's FileStorage) on every backend of the registry."""

from __future__ import annotations

import asyncio

import pytest

from storeroom import FileInfo, NotFound, Provider
from storeroom.filestore import FileStore

from .support import require


@pytest.fixture
def store(provider: Provider) -> FileStore:
    return FileStore(provider)


async def test_text_bytes_and_json_round_trip(store: FileStore) -> None:
    result = await store.write_text("notes/today.md", "héllo")
    assert result.success
    assert (result.path, result.size, result.error) == ("notes/today.md", 6, None)
    assert result.data == {}
    assert await store.read_text("notes/today.md") == "héllo"
    assert await store.read_bytes("./notes/today.md") == "héllo".encode()

    assert (await store.write_bytes("blob.bin", b"\x00\xff")).success
    assert await store.read_bytes("blob.bin") == b"\x00\xff"

    assert (await store.write_json("conf/app.json", {"a": [1, None, "x"]})).success
    assert await store.read_json("conf/app.json") == {"a": [1, None, "x"]}


async def test_failed_writes_are_results_with_a_code_and_lose_nothing(store: FileStore) -> None:
    assert (await store.write_text("keep.txt", "old")).success
    bad = await store.write_text("../escape.txt", "x")
    assert not bad.success
    assert bad.metadata["code"] == "invalid_path"
    assert bad.error
    assert "'..'" in bad.error
    unencodable = await store.write_text("keep.txt", "snowman ☃", encoding="ascii")
    assert (unencodable.success, unencodable.metadata["code"]) == (False, "encoding_error")
    not_json = await store.write_json("keep.txt", {"x": object()})
    assert (not_json.success, not_json.metadata["code"]) == (False, "encoding_error")
    for wrong in (
        await store.write_bytes("keep.txt", "/etc/hostname"),  # type: ignore[arg-type]
        await store.write_text("keep.txt", b"bytes"),  # type: ignore[arg-type]
    ):
        assert (wrong.success, wrong.metadata["code"]) == (False, "invalid_argument")
    assert await store.read_text("keep.txt") == "old"


async def test_reads_raise_typed_errors(store: FileStore) -> None:
    with pytest.raises(NotFound):
        await store.read_text("missing.txt")
    with pytest.raises(FileNotFoundError):
        await store.read_bytes("missing.txt")
    assert await store.get_info("missing.txt") is None
    assert not await store.exists("missing.txt")


async def test_info_exists_and_one_level_listing(store: FileStore) -> None:
    for path in ("a.txt", "docs/b.md", "docs/deep/c.md", "zeta/d.txt"):
        assert (await store.write_text(path, path)).success
    info = await store.get_info("docs/b.md")
    assert isinstance(info, FileInfo)
    assert (info.path, info.size, info.is_directory) == ("docs/b.md", len("docs/b.md"), False)
    assert info.modified_at.tzinfo is not None
    folder = await store.get_info("docs")
    assert folder is not None
    assert folder.is_directory
    assert await store.exists("docs")
    assert await store.exists("docs/deep/c.md")

    top = await store.list_directory()
    assert [(i.path, i.is_directory) for i in top] == [
        ("docs", True),
        ("zeta", True),
        ("a.txt", False),
    ]
    assert [i.path for i in await store.list_directory("docs")] == ["docs/deep", "docs/b.md"]
    assert await store.list_directory("nowhere") == []


async def test_delete_reports_missing_files(store: FileStore) -> None:
    assert (await store.write_text("gone.txt", "x")).success
    assert (await store.delete("gone.txt")).success
    assert not await store.exists("gone.txt")
    again = await store.delete("gone.txt")
    assert (again.success, again.metadata["code"]) == (False, "not_found")


async def test_create_directory(store: FileStore, provider: Provider) -> None:
    result = await store.create_directory("empty/inner")
    assert result.success
    assert (await store.create_directory("empty/inner")).success
    if provider.capabilities.empty_folders:
        assert await store.exists("empty/inner")
        assert [i.path for i in await store.list_directory("empty")] == ["empty/inner"]
    bad = await store.create_directory("/abs")
    assert (bad.success, bad.metadata["code"]) == (False, "invalid_path")


async def test_concurrent_appends_all_land(store: FileStore, provider: Provider) -> None:
    require(provider, "compare_and_swap")
    require(provider, "create_if_absent")
    lines = [f"line {n}\n" for n in range(40)]
    results = await asyncio.gather(*(store.append_text("log.txt", line) for line in lines))
    assert all(r.success for r in results), [r.error for r in results if not r.success]
    text = await store.read_text("log.txt")
    assert sorted(text.splitlines(keepends=True)) == sorted(lines)
