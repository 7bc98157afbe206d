"""gc: what it removes, what it keeps, and the races with concurrent stores.

The races are staged on a real MemoryProvider whose operations can run a
one-shot hook first (the hook plays the other party at the worst moment).
Blob tests store with ``inline_limit=0``, so that even small content is a blob.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest

from storeroom.artifactstore import ArtifactStore
from storeroom.artifactstore.gc import LEASE_KEY
from storeroom.artifactstore.layout import BLOBS, blob_key, manifest_key, trash_key
from storeroom.artifactstore.records import ArtifactVersion, dump_json, utcnow
from storeroom.errors import AlreadyExists, NotSupported
from storeroom.providers.base import Capabilities, ObjectMeta
from storeroom.providers.memory import MemoryProvider

from .conftest import payload
from .hooks import HookedProvider


async def test_gc_removes_only_unreferenced_blobs(store: ArtifactStore) -> None:
    store.gc_grace, store.inline_limit = 0, 0
    keep = await store.store_artifact("a", "kept")
    await store.store_artifact("a", "dropped")
    await store.store_artifact("b", "kept")  # the same blob, another artifact
    await store.store_artifact("c", "gone with c")
    await store.delete_artifact("a", "v2")
    await store.delete_artifact("c")
    report = await store.gc()
    assert (report.blobs_checked, report.blobs_deleted, report.blobs_restored) == (3, 2, 0)
    assert report.bytes_freed == len("dropped") + len("gone with c")
    assert await store.provider.list(BLOBS) == [blob_key(payload(keep)["sha256"])]
    assert await store.get_artifact("a") == "kept"
    assert await store.get_artifact("b") == "kept"
    assert await store.provider.list("trash") == []
    assert not await store.provider.exists(LEASE_KEY)
    assert (await store.gc()).blobs_deleted == 0


async def test_gc_spares_young_blobs(store: ArtifactStore) -> None:
    store.inline_limit = 0
    await store.store_artifact("a", "soon unreferenced")
    await store.delete_artifact("a")
    report = await store.gc()  # default grace: an hour
    assert (report.blobs_checked, report.blobs_deleted) == (1, 0)


async def test_gc_repairs_what_a_crashed_writer_left(store: ArtifactStore) -> None:
    store.inline_limit = 0
    await store.store_artifact("a", "one")
    # A writer created v2's blob and manifest, then died before updating the head.
    orphan = await store.store_artifact("scratch", "two")
    version = ArtifactVersion(
        "a", 2, payload(orphan)["sha256"], 3, "text/plain", "utf-8", {}, utcnow()
    )
    await store.provider.put(manifest_key("a", 2), dump_json(version.to_record()), mode="create")
    # Its store never completed: the latest is still v1, v2 is readable by its id.
    assert await store.get_artifact("a") == "one"
    assert await store.get_artifact("a", "v2") == "two"
    assert await store.get_artifact_versions("a") == ["v1", "v2"]
    assert [e["version"] for e in await store.list_artifacts("a")] == ["v1"]  # the head lags
    report = await store.gc()
    assert report.heads_repaired == 1
    assert [e["version"] for e in await store.list_artifacts("a")] == ["v2"]
    assert await store.get_artifact("a") == "two"
    assert payload(await store.store_artifact("a", "three"))["version"] == "v3"


async def test_store_that_deduplicates_survives_gc_before_its_manifest() -> None:
    provider = HookedProvider()
    store = ArtifactStore(provider, gc_grace=0, inline_limit=0)
    first = await store.store_artifact("a", "content")
    await store.delete_artifact("a")  # the blob is now unreferenced
    sha = payload(first)["sha256"]
    reports = []

    async def gc_now() -> None:  # after the store found the blob, before its manifest
        reports.append(await store.gc())

    provider.hooks["put", manifest_key("a", 2)] = gc_now
    second = await store.store_artifact("a", "content")
    assert second.data == {"version": "v2", "sha256": sha, "deduplicated": True}
    assert reports[0].blobs_deleted == 1  # gc did remove it ...
    assert await provider.exists(blob_key(sha))  # ... and the store put it back
    assert await store.get_artifact("a") == "content"


async def test_gc_restores_a_blob_referenced_while_set_aside() -> None:
    provider = HookedProvider()
    store = ArtifactStore(provider, gc_grace=0, inline_limit=0)
    first = await store.store_artifact("a", "content")
    await store.delete_artifact("a")
    sha = payload(first)["sha256"]
    seen_in_trash: list[object] = []

    async def store_now() -> None:  # gc has listed the manifests and is about to delete
        result = await store.store_artifact("b", "content")
        assert payload(result)["deduplicated"] is True

    async def read_now() -> None:  # the blob is in the trash: reads still work
        seen_in_trash.append(await provider.exists(trash_key(sha)))
        seen_in_trash.append(await store.get_artifact("b"))

    provider.hooks["delete", blob_key(sha)] = store_now
    provider.hooks["copy", blob_key(sha)] = read_now
    report = await store.gc()
    assert (report.blobs_deleted, report.blobs_restored) == (0, 1)
    assert seen_in_trash == [True, "content"]
    assert await provider.exists(blob_key(sha))
    assert not await provider.exists(trash_key(sha))
    assert await store.get_artifact("b") == "content"


async def test_gc_puts_back_what_an_interrupted_gc_set_aside() -> None:
    store = ArtifactStore(MemoryProvider("interrupted"), gc_grace=0, inline_limit=0)
    result = await store.store_artifact("a", "content")
    sha = payload(result)["sha256"]
    await store.provider.rename(blob_key(sha), trash_key(sha))  # as if gc died mid-way
    assert await store.get_artifact("a") == "content"
    report = await store.gc()
    assert report.blobs_restored == 1
    assert await store.provider.exists(blob_key(sha))
    assert await store.provider.list("trash") == []


async def test_gc_leaves_inline_versions_alone(store: ArtifactStore) -> None:
    store.gc_grace = 0
    big = "large\n" * 1000  # above the default inline limit: a blob
    await store.store_artifact("small", "inline one")
    await store.store_artifact("small", b"\x00\xffinline binary")
    kept = await store.store_artifact("big", big)
    await store.store_artifact("big", big + "dropped")
    await store.store_artifact("big", "small again")
    await store.delete_artifact("big", "v2")
    report = await store.gc()
    assert (report.blobs_checked, report.blobs_deleted) == (2, 1)
    assert await store.provider.list(BLOBS) == [blob_key(payload(kept)["sha256"])]
    assert await store.get_artifact("small", "v1") == "inline one"
    assert await store.get_artifact_bytes("small") == b"\x00\xffinline binary"
    assert await store.get_artifact("big", "v1") == big
    assert await store.get_artifact("big") == "small again"
    await store.delete_artifact("big", "v1")
    assert (await store.gc()).blobs_deleted == 1
    assert await store.provider.list(BLOBS) == []
    assert await store.get_artifact("big") == "small again"


async def test_one_gc_at_a_time() -> None:
    store = ArtifactStore(MemoryProvider("lease"))
    held = {"owner": "other", "expires": (utcnow() + timedelta(hours=1)).isoformat()}
    await store.provider.put(LEASE_KEY, json.dumps(held).encode())
    with pytest.raises(AlreadyExists, match="another gc"):
        await store.gc()
    expired = {"owner": "other", "expires": (utcnow() - timedelta(seconds=1)).isoformat()}
    await store.provider.put(LEASE_KEY, json.dumps(expired).encode())
    await store.gc()  # an expired lease is taken over
    assert not await store.provider.exists(LEASE_KEY)


class SlowReplies(MemoryProvider):
    """Writes of the gc lease land at once; their replies wait until ``answer`` is set."""

    def __init__(self) -> None:
        super().__init__("slow-replies")
        self.answer = asyncio.Event()
        self.waiting = asyncio.Event()

    async def _reply(self, path: str) -> None:
        if path == LEASE_KEY:
            self.waiting.set()
            await self.answer.wait()

    async def put(self, path: str, data: bytes, **options: Any) -> ObjectMeta:
        meta = await super().put(path, data, **options)
        await self._reply(path)
        return meta

    async def delete(self, path: str) -> None:
        await super().delete(path)
        await self._reply(path)


async def test_a_gc_cancelled_once_its_lease_landed_leaves_no_lease() -> None:
    provider = SlowReplies()
    store = ArtifactStore(provider)
    await store.store_artifact("a", "x")
    collecting = asyncio.ensure_future(store.gc())
    await provider.waiting.wait()  # the lease is written; its reply has not come
    assert await provider.exists(LEASE_KEY)
    collecting.cancel()
    provider.answer.set()
    with pytest.raises(asyncio.CancelledError):
        await collecting
    for _ in range(10):  # the release, shielded, ends on its own
        await asyncio.sleep(0)
    assert not await provider.exists(LEASE_KEY)
    await store.gc()  # the next gc is not refused


async def test_a_gc_cancelled_while_it_releases_still_releases() -> None:
    provider = MemoryProvider("slow-release")
    store = ArtifactStore(provider)
    await store.store_artifact("a", "x")
    releasing, go_on = asyncio.Event(), asyncio.Event()

    async def delete(path: str) -> None:
        if path == LEASE_KEY:  # the release is under way: the cancel comes now
            releasing.set()
            await go_on.wait()
        await MemoryProvider.delete(provider, path)

    provider.delete = delete  # type: ignore[method-assign]
    collecting = asyncio.ensure_future(store.gc())
    await releasing.wait()
    collecting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await collecting
    go_on.set()
    for _ in range(10):
        await asyncio.sleep(0)
    assert not await provider.exists(LEASE_KEY)


class RacyProvider(MemoryProvider):
    """A backend that cannot create-if-absent or compare-and-swap atomically."""

    capabilities = Capabilities(create_if_absent=False, compare_and_swap=False)


async def test_unsafe_backends_are_refused_unless_allowed() -> None:
    store = ArtifactStore(RacyProvider("racy"))
    result = await store.store_artifact("a", "x")
    assert not result.success
    assert result.metadata["code"] == "not_supported"
    assert "allow_unsafe_writes" in (result.error or "")
    with pytest.raises(NotSupported):
        await store.set_alias("a", "prod", "v1")
    with pytest.raises(NotSupported):
        await store.gc()
    assert (await store.delete_artifact("a")).metadata["code"] == "not_supported"
    unsafe = ArtifactStore(RacyProvider("racy"), allow_unsafe_writes=True)
    assert (await unsafe.store_artifact("a", "x")).success
    assert await unsafe.get_artifact("a") == "x"
