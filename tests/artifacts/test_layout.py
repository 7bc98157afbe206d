"""Inline content, manifests written before it, and the remembered head.

Small content lives in its manifest (no blob); large content in shared blobs;
manifests that reference a blob (as every manifest did before inline content)
still read. A store remembers the last head it saw per artifact and allocates
from it; the conditional writes alone keep the numbers exact.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping

import pytest

from storeroom.artifactstore import ArtifactStore
from storeroom.artifactstore.heads import Heads
from storeroom.artifactstore.layout import BLOBS, blob_key, head_key, manifest_key
from storeroom.artifactstore.records import ArtifactVersion, Head, dump_json, utcnow
from storeroom.errors import IntegrityError
from storeroom.providers.base import GetResult
from storeroom.providers.memory import MemoryProvider

from .conftest import payload


async def _record(store: ArtifactStore, key: str) -> dict[str, object]:
    found = json.loads(await store.provider.read(key))
    assert isinstance(found, dict)
    return found


async def test_small_content_is_inline(store: ArtifactStore) -> None:
    text = "héllo\n" * 100
    png = b"\x89PNG\r\n\x1a\n\x00\xff"
    results = [
        await store.store_artifact("doc", text, metadata={"n": 1}),
        await store.store_artifact("other", text.encode()),
        await store.store_artifact("img", png, "image/png"),
    ]
    sha = hashlib.sha256(text.encode()).hexdigest()
    assert results[0].data == {"version": "v1", "sha256": sha, "deduplicated": False}
    assert [payload(r)["deduplicated"] for r in results] == [False, False, False]
    assert await store.provider.list(BLOBS) == []
    manifest = await _record(store, manifest_key("doc", 1))
    assert (manifest["inline"], manifest["sha256"], manifest["size"]) == (
        {"text": text},
        sha,
        len(text.encode()),
    )
    binary = await _record(store, manifest_key("img", 1))
    assert binary["inline"] == {"base64": base64.b64encode(png).decode()}
    head = await _record(store, head_key("img"))
    assert (manifest["format"], binary["format"], head["format"]) == (2, 2, 2)
    assert head["latest"] == binary  # the latest reads from the head alone
    assert await store.get_artifact("doc") == text
    assert await store.get_artifact("doc", "v1") == text
    assert await store.get_artifact_bytes("img", "v1") == png
    assert (await store.get_version("img")).inline == png
    sizes = [(e["name"], e["size"]) for e in await store.list_artifacts()]
    assert sizes == [("doc", 700), ("img", len(png)), ("other", 700)]


@pytest.mark.parametrize(("limit", "blobs"), [(0, 3), (8, 1), (4096, 0)])
async def test_inline_limit(store: ArtifactStore, limit: int, blobs: int) -> None:
    """At most ``inline_limit`` bytes inline; ``0`` makes every content a blob."""
    sized = ArtifactStore(store.provider, inline_limit=limit)
    for content in (b"", b"8 bytes!", b"9 bytes!!"):
        assert payload(await sized.store_artifact("a", content))["deduplicated"] is False
    assert len(await store.provider.list(BLOBS)) == blobs
    manifest = await _record(store, manifest_key("a", 3))
    assert manifest["format"] == (1 if limit < 9 else 2)  # a blob: readable by older versions
    assert ("inline" in manifest) is (limit >= 9)
    assert [await sized.get_artifact("a", v) for v in ("v1", "v2", "v3")] == [
        "",
        "8 bytes!",
        "9 bytes!!",
    ]
    with pytest.raises(ValueError, match="inline_limit"):
        ArtifactStore(store.provider, inline_limit=-1)


async def test_inline_content_is_checked_on_every_read(store: ArtifactStore) -> None:
    await store.store_artifact("a", "genuine")
    await store.store_artifact("a", "newer")
    v1 = await _record(store, manifest_key("a", 1))
    await store.provider.put(manifest_key("a", 1), dump_json({**v1, "inline": {"text": "forged"}}))
    with pytest.raises(IntegrityError, match="sha256"):
        await store.get_artifact("a", "v1")
    head = await _record(store, head_key("a"))
    latest = head["latest"]
    assert isinstance(latest, dict)
    forged = {**head, "latest": {**latest, "inline": {"base64": "bmV3ZXI/"}}}
    await store.provider.put(head_key("a"), dump_json(forged))
    with pytest.raises(IntegrityError, match="sha256"):
        await store.get_artifact("a")  # the latest reads from the head's copy
    await store.provider.put(manifest_key("a", 1), dump_json({**v1, "inline": {"base64": "%%"}}))
    with pytest.raises(IntegrityError, match="malformed"):
        await store.get_artifact_bytes("a", "v1")
    await store.provider.put(manifest_key("a", 1), dump_json({**v1, "format": 3}))
    with pytest.raises(IntegrityError, match="newer"):
        await store.get_artifact("a", "v1")


async def test_manifests_that_reference_a_blob_still_read(store: ArtifactStore) -> None:
    """A store written before inline content existed: format 1, a blob per content."""
    old = b"written by an older storeroom\n"
    sha = hashlib.sha256(old).hexdigest()
    manifest = {
        "format": 1,
        "name": "legacy",
        "version": 1,
        "sha256": sha,
        "size": len(old),
        "content_type": "text/plain",
        "encoding": "utf-8",
        "metadata": {"by": "old"},
        "created": "2026-01-02T03:04:05+00:00",
    }
    head = {
        "format": 1,
        "name": "legacy",
        "allocated": 1,
        "floor": 0,
        "deleted": [],
        "created": manifest["created"],
        "latest": manifest,
        "aliases": {},
    }
    await store.provider.put(blob_key(sha), old)
    await store.provider.put(manifest_key("legacy", 1), dump_json(manifest))
    await store.provider.put(head_key("legacy"), dump_json(head))
    assert await store.get_artifact("legacy") == old.decode()
    assert await store.get_artifact("legacy", "v1") == old.decode()
    assert (await store.get_version("legacy", "v1")).metadata == {"by": "old"}
    assert payload(await store.store_artifact("legacy", "new and inline"))["version"] == "v2"
    assert await store.get_artifact("legacy", "v1") == old.decode()  # its own manifest now
    (entry,) = await store.list_artifacts()
    assert (entry["version"], entry["versions"], entry["created_at"]) == (
        "v2",
        2,
        "2026-01-02T03:04:05+00:00",
    )
    store.gc_grace = 0
    assert (await store.gc()).blobs_deleted == 0  # v1 still references the blob
    await store.provider.put(blob_key(sha), b"tampered")
    with pytest.raises(IntegrityError, match="sha256"):
        await store.get_artifact("legacy", "v1")


class CountingProvider(MemoryProvider):
    """A MemoryProvider that counts the gets of each key."""

    def __init__(self) -> None:
        super().__init__("counting")
        self.gets: dict[str, int] = {}

    async def get(self, path: str) -> GetResult:
        self.gets[path] = self.gets.get(path, 0) + 1
        return await super().get(path)


async def test_a_store_does_not_read_a_head_it_knows() -> None:
    provider = CountingProvider()
    store = ArtifactStore(provider)
    for n in range(5):
        assert payload(await store.store_artifact("a", f"{n}"))["version"] == f"v{n + 1}"
    assert provider.gets == {head_key("a"): 1}  # once, for the first store


async def test_two_stores_interleaving_allocate_every_number_once(store: ArtifactStore) -> None:
    one, two = store, ArtifactStore(store.provider)
    order = [one, two, one, one, two, two, two, one, two, one] * 3
    stored = [payload(await s.store_artifact("a", f"{n}"))["version"] for n, s in enumerate(order)]
    assert stored == [f"v{n}" for n in range(1, len(order) + 1)]
    assert await one.get_artifact_versions("a") == stored
    assert [await two.get_artifact("a", v) for v in stored] == [f"{n}" for n in range(len(order))]
    (entry,) = await one.list_artifacts()
    assert (entry["version"], entry["versions"]) == (stored[-1], len(order))


async def test_a_stale_head_never_reuses_a_deleted_number(store: ArtifactStore) -> None:
    provider = store.provider
    mine, theirs = store, ArtifactStore(provider)
    for n in range(3):
        await mine.store_artifact("a", f"mine {n}")  # mine now remembers v3's head
    await theirs.store_artifact("a", "theirs 4")
    await theirs.store_artifact("a", "theirs 5")
    assert (await theirs.delete_artifact("a")).data == {
        "deleted": ["v1", "v2", "v3", "v4", "v5"]
    }
    assert not await provider.exists(manifest_key("a", 4))  # compacted below the floor
    # mine creates v4's manifest from its stale head, loses the head's CAS, withdraws.
    assert payload(await mine.store_artifact("a", "mine 6"))["version"] == "v6"
    assert not await provider.exists(manifest_key("a", 4))
    assert await theirs.get_artifact_versions("a") == ["v6"]
    assert await theirs.get_artifact("a") == "mine 6"


async def test_remembered_heads_are_bounded() -> None:
    heads = Heads(MemoryProvider("bounded"), remember=2)
    for name in ("a", "b", "c"):
        await heads.read(name)
    fresh: Mapping[str, bool] = {name: (await heads.last(name))[2] for name in ("c", "b", "a")}
    assert fresh == {"c": False, "b": False, "a": True}


@pytest.mark.parametrize(
    ("content", "encoding", "metadata", "message"),
    [
        (b"plain text", "utf-8", {}, None),
        ("h\u00e9llo \u2603 \"quoted\"\n".encode(), "utf-8", {"k": ["v", 1, None]}, "why: \u00e9"),
        (b"\x00\xff binary", None, {"nested": {"a": 1.5}}, ""),
        (None, "utf-8", {}, "a blob"),
    ],
)
def test_a_manifest_is_stored_as_the_json_of_its_record(
    content: bytes | None, encoding: str | None, metadata: dict[str, object], message: str | None
) -> None:
    data = content if content is not None else b"large"
    version = ArtifactVersion(
        "r\u00e9ports/@q1 \"x\".md", 42, hashlib.sha256(data).hexdigest(), len(data),
        "text/markdown; charset=utf-8", encoding, metadata, utcnow(), content, message=message,
    )
    assert version.to_json() == dump_json(version.to_record())
    key = manifest_key(version.name, 42)
    assert ArtifactVersion.from_json(version.to_json(), key) == version


@pytest.mark.parametrize("inline", [True, False])
def test_a_head_is_stored_as_the_json_of_its_fields(inline: bool) -> None:
    data = b"text"
    latest = ArtifactVersion(
        "a/\u00e9", 7, hashlib.sha256(data).hexdigest(), 4, "text/plain", "utf-8", {}, utcnow(),
        data if inline else None,
    )
    head = Head("a/\u00e9", 7, 2, frozenset({5, 4}), utcnow(), latest, {"zeta": 7, "alpha": 3})
    stored = head.to_json()
    assert json.loads(stored) == {
        "format": 2 if inline else 1,
        "name": "a/\u00e9",
        "allocated": 7,
        "floor": 2,
        "deleted": [4, 5],
        "created": head.created.isoformat() if head.created else None,
        "aliases": {"alpha": 3, "zeta": 7},
        "latest": latest.to_record(),
    }
    assert stored == head.to_json(latest.to_json())
    assert Head.from_json(stored, "heads/x/@head.json") == head
    assert json.loads(Head("empty").to_json())["latest"] is None
