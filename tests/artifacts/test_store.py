"""ArtifactStore semantics, the same on every backend."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import storeroom
from storeroom.artifactstore import INVALID_ARGUMENT, ArtifactStore
from storeroom.artifactstore.layout import blob_key, head_key, manifest_key
from storeroom.errors import IntegrityError, InvalidPath, NotFound, NotSupported
from storeroom.interfaces import ArtifactStorage

from .conftest import backend_url, payload

MIB = 1024 * 1024


async def test_vibex_agent_scenario(store: ArtifactStore) -> None:
    """Store a report three times, list, read an older one, alias, delete the newest."""
    assert isinstance(store, ArtifactStorage)
    for n in range(1, 4):
        result = await store.store_artifact(
            "reports/summary.md", f"# Summary\n\ndraft {n}\n", "text/markdown", {"draft": n}
        )
        assert result.success, result.error
        assert result.path == "reports/summary.md"
        assert result.data == {
            "version": f"v{n}",
            "sha256": hashlib.sha256(f"# Summary\n\ndraft {n}\n".encode()).hexdigest(),
            "deduplicated": False,
        }
    (entry,) = await store.list_artifacts()
    assert entry["name"] == "reports/summary.md"
    assert (entry["version"], entry["versions"]) == ("v3", 3)
    assert entry["metadata"] == {"draft": 3}
    assert entry["content_type"] == "text/markdown"
    assert await store.get_artifact("reports/summary.md", "v1") == "# Summary\n\ndraft 1\n"
    assert await store.set_alias("reports/summary.md", "reviewed", "v2") == "v2"
    deleted = await store.delete_artifact("reports/summary.md", "v3")
    assert deleted.success
    assert deleted.data == {"deleted": ["v3"]}
    assert await store.get_artifact("reports/summary.md") == "# Summary\n\ndraft 2\n"
    assert await store.get_artifact("reports/summary.md", "latest") == "# Summary\n\ndraft 2\n"
    assert await store.get_artifact("reports/summary.md", "reviewed") == "# Summary\n\ndraft 2\n"
    assert await store.get_artifact_versions("reports/summary.md") == ["v1", "v2"]
    (entry,) = await store.list_artifacts()
    assert (entry["version"], entry["versions"]) == ("v2", 2)
    assert entry["aliases"] == {"latest": "v2", "reviewed": "v2"}


async def test_numbers_are_never_reused(store: ArtifactStore) -> None:
    for n in range(3):
        await store.store_artifact("a", f"{n}")
    assert (await store.delete_artifact("a", "v3")).success
    assert payload(await store.store_artifact("a", "again"))["version"] == "v4"
    assert (await store.delete_artifact("a")).data == {"deleted": ["v1", "v2", "v4"]}
    assert await store.get_artifact("a") is None
    assert await store.get_artifact_versions("a") == []
    assert await store.list_artifacts() == []
    assert payload(await store.store_artifact("a", "reborn"))["version"] == "v5"
    assert await store.get_artifact_versions("a") == ["v5"]
    assert await store.get_artifact("a", "v2") is None


async def test_deleting_compacts_void_manifests(store: ArtifactStore) -> None:
    for n in range(4):
        await store.store_artifact("a", f"{n}")
    await store.delete_artifact("a", "v2")
    assert await store.provider.exists(manifest_key("a", 2))  # above the floor: kept
    await store.delete_artifact("a", "v1")
    assert not await store.provider.exists(manifest_key("a", 1))
    assert not await store.provider.exists(manifest_key("a", 2))
    assert await store.get_artifact_versions("a") == ["v3", "v4"]


async def test_keep_last(store: ArtifactStore) -> None:
    for n in range(6):
        await store.store_artifact("logs/run", f"line {n}")
    await store.set_alias("logs/run", "first", "v1")
    assert await store.keep_last("logs/run", 2) == ["v1", "v2", "v3", "v4"]
    assert await store.get_artifact_versions("logs/run") == ["v5", "v6"]
    assert await store.get_aliases("logs/run") == {"latest": "v6"}
    assert await store.keep_last("logs/run", 5) == []
    with pytest.raises(ValueError, match="count"):
        await store.keep_last("logs/run", 0)
    with pytest.raises(NotFound):
        await store.keep_last("nothing", 1)


async def test_aliases(store: ArtifactStore) -> None:
    for n in range(3):
        await store.store_artifact("model", f"weights {n}")
    assert await store.set_alias("model", "production", "v1") == "v1"
    assert await store.set_alias("model", "staging", "latest") == "v3"
    assert await store.set_alias("model", "production", "staging") == "v3"
    assert await store.get_aliases("model") == {
        "latest": "v3",
        "production": "v3",
        "staging": "v3",
    }
    await store.remove_alias("model", "staging")
    with pytest.raises(NotFound):
        await store.remove_alias("model", "staging")
    assert await store.get_artifact("model", "staging") is None
    for bad in ("latest", "v2", "3", "1abc", "", "a b", "x" * 65):
        with pytest.raises(InvalidPath):
            await store.set_alias("model", bad, "v1")
    with pytest.raises(NotFound):
        await store.set_alias("model", "gone", "v9")
    with pytest.raises(NotFound):
        await store.set_alias("missing", "prod", "v1")
    await store.delete_artifact("model", "v3")
    assert await store.get_aliases("model") == {"latest": "v2"}


@pytest.mark.parametrize("version", ["-1", "0", "01", "1e3", "v0", "v01", "V1", " 1", "1.0", ""])
async def test_malformed_versions_are_rejected(store: ArtifactStore, version: str) -> None:
    await store.store_artifact("a", "x")
    assert await store.get_artifact("a", version) is None
    with pytest.raises(NotFound, match=r"no version|no alias"):
        await store.get_artifact_bytes("a", version)
    result = await store.delete_artifact("a", version)
    assert not result.success
    assert result.metadata["code"] == "not_found"
    assert await store.get_artifact_versions("a") == ["v1"]


async def test_version_ids_with_and_without_v(store: ArtifactStore) -> None:
    await store.store_artifact("a", "one")
    await store.store_artifact("a", "two")
    assert await store.get_artifact("a", "1") == "one"
    assert await store.get_artifact("a", "v2") == "two"
    assert await store.get_artifact("a", "v3") is None
    assert (await store.get_version("a", "2")).version == "v2"


async def test_binary_content(store: ArtifactStore) -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\xff\xfe"
    result = await store.store_artifact("img/logo.png", png, content_type="image/png")
    assert result.success
    assert result.size == len(png)
    assert await store.get_artifact("img/logo.png") is None  # not text: as vibex answers
    assert await store.get_artifact_bytes("img/logo.png") == png
    (entry,) = await store.list_artifacts()
    assert entry["text"] is False
    # UTF-8 bytes are text: returned faithfully as str.
    await store.store_artifact("notes", "héllo".encode(), content_type="application/octet-stream")
    assert await store.get_artifact("notes") == "héllo"


async def test_names(store: ArtifactStore) -> None:
    names = ["a", "a/b", "a/b/c.txt", "@at", "a/@head.json", "a/@v/000000000001.json", "ü/ñ"]
    for name in names:
        assert (await store.store_artifact(name, name)).success, name
    for name in names:
        assert await store.get_artifact(name) == name
    assert [e["name"] for e in await store.list_artifacts()] == sorted(names)
    for bad in ["", "/abs", "a/../b", "a//b", "back\\slash", "a/.sr-x", "x/"]:
        result = await store.store_artifact(bad, "x")
        assert not result.success, bad
        assert result.metadata["code"] == "invalid_path", bad
        assert await store.get_artifact(bad) is None  # no artifact can have that name
        with pytest.raises(InvalidPath):
            await store.get_artifact_bytes(bad)
    too_long = "n" * 1010
    result = await store.store_artifact(too_long, "x")
    assert result.metadata["code"] == "invalid_path"


async def test_list_prefix(store: ArtifactStore) -> None:
    for name in ["reports/q1.md", "reports/q2.md", "reports-old/q1.md", "notes/a", "r"]:
        await store.store_artifact(name, name)
    assert [e["name"] for e in await store.list_artifacts("reports/")] == [
        "reports/q1.md",
        "reports/q2.md",
    ]
    assert [e["name"] for e in await store.list_artifacts("reports")] == [
        "reports-old/q1.md",
        "reports/q1.md",
        "reports/q2.md",
    ]
    assert [e["name"] for e in await store.list_artifacts("reports/q2")] == ["reports/q2.md"]
    assert len(await store.list_artifacts()) == 5
    assert await store.list_artifacts("zzz") == []


async def test_list_entry_fields(store: ArtifactStore) -> None:
    first = await store.store_artifact("doc", "v1 text", "text/plain", {"author": "ann"})
    second = await store.store_artifact(
        "doc", "v2 text!", "text/markdown", {"author": "bob"}, "second draft"
    )
    (entry,) = await store.list_artifacts()
    assert entry == {
        "name": "doc",
        "version": "v2",
        "versions": 2,
        "size": 8,
        "content_type": "text/markdown",
        "sha256": payload(second)["sha256"],
        "text": True,
        "created_at": first.metadata["created_at"],
        "updated_at": second.metadata["created_at"],
        "metadata": {"author": "bob"},
        "message": "second draft",
        "aliases": {"latest": "v2"},
    }


async def test_deduplication(store: ArtifactStore) -> None:
    same = "same" * 1025  # above the default inline limit: a blob
    one = await store.store_artifact("x", same)
    two = await store.store_artifact("y", same.encode())
    assert (payload(one)["deduplicated"], payload(two)["deduplicated"]) == (False, True)
    assert payload(one)["sha256"] == payload(two)["sha256"]
    blobs = await store.provider.list("blobs")
    assert blobs == [blob_key(payload(one)["sha256"])]


async def test_integrity_is_checked_on_every_read(store: ArtifactStore) -> None:
    result = await store.store_artifact("a", "genuine" * 1000)  # a blob
    await store.provider.put(blob_key(payload(result)["sha256"]), b"tampered")
    with pytest.raises(IntegrityError, match="sha256"):
        await store.get_artifact("a")
    with pytest.raises(IntegrityError):
        await store.get_artifact_bytes("a", "v1")
    await store.provider.put(manifest_key("a", 1), b"{not json")
    await store.store_artifact("a", "second")
    with pytest.raises(IntegrityError, match="unreadable"):
        await store.get_artifact("a", "v1")
    await store.provider.put(head_key("a"), b"[]")
    with pytest.raises(IntegrityError):
        await store.get_artifact("a")


async def test_write_failures_are_results(store: ArtifactStore) -> None:
    cases = [
        ("a", 42, "text/plain", None),
        ("a", "x", "text/plain", {"bad": object()}),
        ("a", "x", "text/plain", {"nan": float("nan")}),
        ("a", "x", "", None),
        ("a", "\ud800", "text/plain", None),
        ("a", "x", "text/plain", ["not", "a", "dict"]),
        ("a", "x", "text/plain", {"lone": "\ud800"}),  # no reader could decode it
        ("a", "x", "text/plain", _nested(5000)),  # deeper than JSON can go
        ("a", "x", "text/plain; name=\u2603", None),  # no HTTP header can carry it
        ("a", "x", "text/plain; a=\x0b", None),
        ("a", "x", "text/plain", {"k": ["a\x00b"]}),  # no index's text column holds it
    ]
    for name, content, content_type, metadata in cases:
        result = await store.store_artifact(name, content, content_type, metadata)  # type: ignore[arg-type]
        assert not result.success
        assert result.error
        assert result.metadata["code"] == INVALID_ARGUMENT
    for message in ("\ud800", "a\x00b"):
        refused = await store.store_artifact("a", "x", commit_message=message)
        assert (refused.success, refused.metadata["code"]) == (False, INVALID_ARGUMENT)
    kept = await store.store_artifact("b", "x", metadata={"k": "a\\u0000b"})  # (only text)
    assert kept.success
    assert await store.get_artifact_versions("a") == []
    missing = await store.delete_artifact("nothing")
    assert not missing.success
    assert missing.metadata["code"] == "not_found"
    gone = await store.delete_artifact("nothing", "v1")
    assert gone.metadata["code"] == "not_found"


def _nested(depth: int) -> dict[str, object]:
    nested: dict[str, object] = {}
    for _ in range(depth):
        nested = {"k": nested}
    return nested


async def test_diff(store: ArtifactStore) -> None:
    await store.store_artifact("code.py", "a = 1\nb = 2\n")
    await store.store_artifact("code.py", "a = 1\nb = 3\n")
    await store.store_artifact("code.py", "a = 1\nb = 3")
    assert await store.diff("code.py", "v1", "v2") == (
        "--- code.py@v1\n+++ code.py@v2\n@@ -1,2 +1,2 @@\n a = 1\n-b = 2\n+b = 3\n"
    )
    no_newline = await store.diff("code.py", "v2", "latest")
    assert no_newline.endswith("+b = 3\n\\ No newline at end of file\n")
    assert await store.diff("code.py", "v2", "v2") == ""
    await store.store_artifact("bin", b"\xff\x00")
    with pytest.raises(NotSupported):
        await store.diff("bin", "v1", "v1")
    with pytest.raises(NotFound):
        await store.diff("code.py", "v1", "v9")


async def test_missing_things(store: ArtifactStore) -> None:
    assert await store.get_artifact("nope") is None
    assert await store.get_artifact_versions("nope") == []
    with pytest.raises(NotFound):
        await store.get_artifact_bytes("nope")
    with pytest.raises(NotFound):
        await store.get_aliases("nope")
    await store.store_artifact("yes", "1")
    assert await store.get_artifact("yes", "nosuchalias") is None


async def test_arguments_of_the_wrong_type_get_typed_errors(store: ArtifactStore) -> None:
    await store.store_artifact("yes", "1")
    assert await store.exists(None) is False  # type: ignore[arg-type]
    assert await store.get_info(None) is None  # type: ignore[arg-type]
    with pytest.raises(InvalidPath):
        await store.list_artifacts(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidPath):
        await store.list_directory(None)  # type: ignore[arg-type]
    for count in (1.5, "1", True):
        with pytest.raises(TypeError, match="int count"):
            await store.keep_last("yes", count)  # type: ignore[arg-type]
    assert await store.get_artifact_versions("yes") == ["v1"]


@pytest.mark.parametrize("kind", ["memory", "local"])
async def test_same_megabyte_in_1000_versions_is_one_blob(
    request: pytest.FixtureRequest, kind: str, tmp_path: Path
) -> None:
    store = storeroom.artifacts(backend_url(request, kind, tmp_path))
    content = bytes(range(256)) * (MIB // 256)
    results = [await store.store_artifact("big.bin", content) for _ in range(1000)]
    assert all(r.success for r in results)
    assert [payload(r)["deduplicated"] for r in results].count(False) == 1
    assert payload(results[-1])["version"] == "v1000"
    assert len(await store.provider.list("blobs")) == 1
    assert await store.get_artifact_bytes("big.bin", "v500") == content
