"""Each fact of ``VIBEX-FIDELITY.md`` about the interfaces, FileStore and
ArtifactStore, as a test of its own.

vibex 0.30.1 itself cannot be installed for the tests: it requires litellm,
chromadb, mem0ai, crawl4ai, playwright, browser-use and two dozen more
packages. So each test below makes the calls vibex's own code makes (its
per-project storage, file tool and chat history), with the argument shapes it
uses, and asserts the answer vibex's code relies on. Facts about caches
(truthiness) and about deleting folders belong to the cache and local suites.
"""

from __future__ import annotations

import dataclasses
import inspect
from abc import ABC
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

import storeroom
from storeroom import interfaces
from storeroom.artifactstore import ArtifactStore
from storeroom.filestore import FileStore
from storeroom.interfaces import FileInfo, StorageResult


@pytest.fixture
async def files(tmp_path: Path) -> AsyncIterator[FileStore]:
    async with storeroom.files(str(tmp_path / "project")) as store:
        yield store


@pytest.fixture(params=["memory", "local"])
async def artifacts(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ArtifactStore]:
    url = "memory://vibex" if request.param == "memory" else str(tmp_path / "artifacts")
    async with storeroom.artifacts(url) as store:
        yield store


# -- what the module declares ---------------------------------------------------


def test_storage_result_is_a_dataclass_with_never_none_data_and_metadata() -> None:
    fields = {f.name: f.default for f in dataclasses.fields(StorageResult)}
    assert list(fields) == ["success", "path", "size", "error", "data", "metadata"]
    assert (fields["path"], fields["size"], fields["error"], fields["data"]) == (None,) * 4
    result = StorageResult(True, data=None, metadata=None)  # type: ignore[arg-type]
    assert (result.data, result.metadata) == ({}, {})
    assert StorageResult(True).metadata is not StorageResult(True).metadata


def test_file_info_is_a_dataclass_whose_metadata_is_never_none() -> None:
    names = [f.name for f in dataclasses.fields(FileInfo)]
    assert names[:6] == ["path", "size", "created_at", "modified_at", "content_type", "metadata"]
    now = datetime.now()
    info = FileInfo("a", 1, now, now, metadata=None)  # type: ignore[arg-type]
    assert (info.content_type, info.metadata) == (None, {})


def test_storage_backend_declares_exists_get_info_list_directory() -> None:
    backend = interfaces.StorageBackend
    assert backend.__abstractmethods__ == {"exists", "get_info", "list_directory"}
    default = inspect.signature(backend.list_directory).parameters["path"].default
    assert default == "."


def test_artifact_storage_is_a_storage_backend() -> None:
    assert issubclass(interfaces.ArtifactStorage, interfaces.StorageBackend)
    assert issubclass(interfaces.FileStorage, interfaces.StorageBackend)
    abstract = interfaces.ArtifactStorage.__abstractmethods__
    assert {"exists", "get_info", "list_directory"} <= abstract
    assert isinstance(storeroom.artifacts("memory://x"), interfaces.StorageBackend)


async def test_artifact_store_answers_exists_get_info_list_directory(
    artifacts: ArtifactStore,
) -> None:
    await artifacts.store_artifact("report.md", "# one", "text/markdown", {"by": "ann"})
    await artifacts.store_artifact("report.md", "# two!", "text/markdown", None, "second draft")
    await artifacts.store_artifact("notes/today.txt", "hi")
    assert await artifacts.exists("report.md")
    assert await artifacts.exists("notes")  # a folder of artifact names
    assert not await artifacts.exists("nothing")
    assert not await artifacts.exists("bad//name")
    info = await artifacts.get_info("report.md")
    assert info is not None
    assert (info.path, info.size, info.content_type) == ("report.md", 6, "text/markdown")
    assert info.created_at <= info.modified_at
    assert (info.metadata["version"], info.metadata["versions"]) == ("v2", 2)
    assert info.metadata["message"] == "second draft"
    assert await artifacts.get_info("nothing") is None
    top = await artifacts.list_directory()
    assert [(i.path, i.is_directory) for i in top] == [("notes", True), ("report.md", False)]
    assert [i.path for i in await artifacts.list_directory("notes")] == ["notes/today.txt"]
    assert [i.size for i in await artifacts.list_directory("./notes/")] == [2]
    await artifacts.delete_artifact("notes/today.txt")
    assert not await artifacts.exists("notes")
    assert [i.path for i in await artifacts.list_directory(".")] == ["report.md"]


async def test_read_json_returns_none_on_a_missing_file_or_invalid_json(files: FileStore) -> None:
    assert await files.read_json("missing.json") is None
    await files.write_text("broken.json", "{not json")
    assert await files.read_json("broken.json") is None
    await files.write_bytes("latin.json", b'{"a": "\xe9"}')
    assert await files.read_json("latin.json") is None
    assert await files.read_json("../outside.json") is None


async def test_write_json_takes_data_and_never_raises(files: FileStore) -> None:
    written = await files.write_json("chat/history.json", data={"messages": ["hi"]}, indent=2)
    assert written.success
    assert await files.read_text("chat/history.json") == '{\n  "messages": [\n    "hi"\n  ]\n}'
    assert await files.read_json("chat/history.json") == {"messages": ["hi"]}
    await files.write_json("u.json", {"name": "é"})  # the bytes vibex writes: non-ASCII escaped
    assert await files.read_text("u.json") == '{\n  "name": "\\u00e9"\n}'
    failed = await files.write_json("bad.json", {"when": datetime.now()})
    assert (failed.success, failed.metadata["code"]) == (False, "encoding_error")
    assert failed.error
    circular: dict[str, object] = {}
    circular["self"] = circular
    assert not (await files.write_json("loop.json", circular)).success
    assert not await files.exists("bad.json")


async def test_load_json_is_the_raising_variant(files: FileStore) -> None:
    with pytest.raises(storeroom.NotFound):
        await files.load_json("missing.json")
    await files.write_text("broken.json", "{")
    with pytest.raises(ValueError, match="Expecting"):
        await files.load_json("broken.json")


def test_provider_and_cache_interfaces_are_plain_abcs() -> None:
    for cls in (interfaces.StorageProvider, interfaces.CacheBackend):
        assert cls.__bases__ == (ABC,)
    ttl = inspect.signature(interfaces.CacheBackend.set).parameters["ttl"].default
    assert ttl == 300


# -- what vibex's own code does with them ------------------------------------------


def test_a_file_store_comes_from_a_base_path_as_the_factory_registry_expects(
    tmp_path: Path,
) -> None:
    def factory(base: Path) -> interfaces.FileStorage:  # register_storage_provider's shape
        return storeroom.files(str(base))

    assert isinstance(factory(tmp_path / "p"), interfaces.FileStorage)


async def test_get_artifact_returns_none_for_missing_and_binary(artifacts: ArtifactStore) -> None:
    assert await artifacts.get_artifact("missing") is None
    await artifacts.store_artifact("logo.png", b"\x89PNG\x00\xff", "image/png")
    assert await artifacts.get_artifact("logo.png") is None  # not text: None, no exception
    assert await artifacts.get_artifact_bytes("logo.png") == b"\x89PNG\x00\xff"
    assert await artifacts.get_artifact("logo.png", "v9") is None
    assert await artifacts.get_artifact("draft.") is None  # a name storeroom cannot hold


async def test_versioned_writes_take_a_change_message_as_fifth_argument(
    artifacts: ArtifactStore,
) -> None:
    # ProjectStorage.store_artifact(name, content, content_type, metadata, commit_message)
    meta = {"filename": "plan.md", "content_type": "text/markdown", "tool": "file_tool"}
    first = await artifacts.store_artifact(
        "plan.md", "a\nb\n", "text/markdown", meta, "Updated plan.md"
    )
    second = await artifacts.store_artifact("plan.md", "a\nc\n", "text/markdown", meta, None)
    assert first.success
    assert second.success
    assert first.data is not None
    assert second.data is not None
    assert (first.data["version"], second.data["version"]) == ("v1", "v2")
    assert (await artifacts.get_version("plan.md", "v1")).message == "Updated plan.md"
    assert (await artifacts.get_version("plan.md", "v2")).message is None
    (entry,) = await artifacts.list_artifacts()
    assert entry["message"] is None
    keyword = await artifacts.store_artifact("plan.md", "x", commit_message="by keyword")
    assert keyword.success
    assert (await artifacts.get_version("plan.md")).message == "by keyword"
    refused = await artifacts.store_artifact("plan.md", "x", "text/plain", None, 42)  # type: ignore[arg-type]
    assert (refused.success, refused.metadata["code"]) == (False, "invalid_argument")


async def test_get_artifact_diff_answers_as_vibex_callers_expect(artifacts: ArtifactStore) -> None:
    await artifacts.store_artifact("plan.md", "a\nb\n")
    await artifacts.store_artifact("plan.md", "a\nc\n")
    diff = await artifacts.get_artifact_diff("plan.md", "v1", "v2")
    assert diff is not None
    assert "-b\n+c\n" in diff
    assert await artifacts.get_artifact_diff("plan.md", "v2", "v2") == ""
    assert await artifacts.get_artifact_diff("plan.md", "v1", "v7") is None
    assert await artifacts.get_artifact_diff("missing", "v1", "v2") is None
    await artifacts.store_artifact("img", b"\x00\xff")
    await artifacts.store_artifact("img", b"\x00\xfe")
    assert await artifacts.get_artifact_diff("img", "v1", "v1") == ""
    assert "differ" in (await artifacts.get_artifact_diff("img", "v1", "v2") or "")


async def test_exists_then_create_directory_then_list_with_file_info(files: FileStore) -> None:
    # ProjectStorage._ensure_directory, then vibex's listings and reads.
    if not await files.exists("artifacts"):
        assert (await files.create_directory("artifacts")).success
    assert await files.exists("artifacts")
    await files.write_text("artifacts/a.txt", "hello")
    if await files.exists("artifacts/a.txt"):
        assert await files.read_text("artifacts/a.txt") == "hello"
    (info,) = await files.list_directory("artifacts")
    assert (info.path, info.size) == ("artifacts/a.txt", 5)
    assert isinstance(info.created_at, datetime)
    assert isinstance(info.modified_at, datetime)


async def test_names_vibex_writes_that_storeroom_refuses_fail_clearly(
    artifacts: ArtifactStore,
) -> None:
    for name in ("draft.", "notes/../b.txt"):
        result = await artifacts.store_artifact(name, "x")
        assert (result.success, result.metadata["code"]) == (False, "invalid_path"), name
        assert result.error
        assert await artifacts.get_artifact(name) is None
        assert not await artifacts.exists(name)
