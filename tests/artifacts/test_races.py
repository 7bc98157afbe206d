"""Mutations racing each other: a concurrent delete or retention never turns a
true answer into ``not_found`` or an exception.

Each race is staged deterministically: a one-shot hook on the provider runs the
other party to completion at the moment the first one reads what the other
removes (see ``hooks.py``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from storeroom.artifactstore import ArtifactStore
from storeroom.artifactstore.layout import HEAD_FILE, manifest_key
from storeroom.artifactstore.records import ArtifactVersion, dump_json, utcnow
from storeroom.errors import OutcomeUnknown
from storeroom.providers.base import ObjectMeta
from storeroom.providers.memory import MemoryProvider

from .conftest import payload
from .hooks import HookedProvider


async def test_delete_of_the_latest_survives_a_concurrent_keep_last() -> None:
    provider = HookedProvider()
    store, other = ArtifactStore(provider), ArtifactStore(provider)
    for text in ("one", "two", "three"):
        await store.store_artifact("doc", text)
    kept: list[list[str]] = []

    async def keep_last_now() -> None:  # the delete is about to read v2, the new latest
        kept.append(await other.keep_last("doc", 1))

    provider.hooks["get", manifest_key("doc", 2)] = keep_last_now
    result = await store.delete_artifact("doc", "v3")
    assert kept == [["v1", "v2"]]
    assert result.success, result.error
    assert payload(result)["deleted"] == ["v3"]
    assert await store.get_artifact_versions("doc") == []
    assert await store.get_artifact("doc") is None
    assert payload(await store.store_artifact("doc", "four"))["version"] == "v4"


async def test_delete_of_a_version_just_stored_elsewhere_finds_it() -> None:
    provider = HookedProvider()
    store, other = ArtifactStore(provider), ArtifactStore(provider)
    await store.store_artifact("doc", "one")
    await store.store_artifact("doc", "two")

    async def store_now() -> None:  # after the delete read the head, before it decides
        await other.store_artifact("doc", "three")

    # The delete's view probes v3 (absent), then the other store lands v3.
    provider.hooks["get", manifest_key("doc", 3)] = store_now
    result = await store.delete_artifact("doc", "v3")
    assert result.success, result.error
    assert await store.get_artifact_versions("doc") == ["v1", "v2"]


async def test_gc_repair_survives_a_concurrent_delete() -> None:
    provider = HookedProvider()
    store, other = ArtifactStore(provider, gc_grace=0), ArtifactStore(provider)
    await store.store_artifact("a", "one")
    # A writer created v2's manifest, then died before updating the head.
    version = ArtifactVersion(
        "a", 2, payload(await store.store_artifact("b", "two"))["sha256"], 3,
        "text/plain", "utf-8", {}, utcnow(), b"two",
    )
    await provider.put(manifest_key("a", 2), dump_json(version.to_record()), mode="create")
    deleted: list[bool] = []

    async def delete_now() -> None:  # gc is about to read the manifest it repairs to
        deleted.append((await other.delete_artifact("a")).success)

    provider.hooks["get", manifest_key("a", 2)] = delete_now
    report = await store.gc()
    assert deleted == [True]
    assert report.heads_repaired == 0  # nothing left to repair: the delete compacted it
    assert not await store.exists("a")
    assert await provider.list("versions/a") == []
    assert await store.get_artifact("b") == "two"


async def test_many_deletes_and_retentions_racing_never_fail_a_live_version() -> None:
    store = ArtifactStore(HookedProvider())
    for n in range(1, 41):
        await store.store_artifact("doc", f"text {n}")

    async def delete(number: int) -> tuple[int, bool, str | None]:
        await asyncio.sleep(0)
        result = await store.delete_artifact("doc", f"v{number}")
        return number, result.success, (result.metadata or {}).get("code")

    async def retain(count: int) -> list[str]:
        await asyncio.sleep(0)
        return await store.keep_last("doc", count)

    outcomes = await asyncio.gather(
        *(delete(n) for n in range(40, 20, -2)), retain(30), retain(15), retain(5)
    )
    retained = {v for result in outcomes[-3:] for v in result}
    for number, success, code in outcomes[:-3]:
        # A delete fails only if a retention took that version first.
        assert success or (code == "not_found" and f"v{number}" in retained), number
    live = await store.get_artifact_versions("doc")
    assert len(live) <= 5
    for version in live:
        assert await store.get_artifact("doc", version) == f"text {version[1:]}"


class _LostAnswers(MemoryProvider):
    """Writes to keys ending in ``suffix`` whose answer is lost; ``landing`` says, for
    each, whether it lands first."""

    def __init__(self, suffix: str, landing: list[bool]) -> None:
        super().__init__("lost-answers")
        self.suffix, self.landing = suffix, landing

    async def put(self, path: str, data: bytes, **options: Any) -> ObjectMeta:
        if path.endswith(self.suffix) and self.landing:
            if self.landing.pop(0):
                await super().put(path, data, **options)
            raise OutcomeUnknown("the answer was lost", path=path)
        return await super().put(path, data, **options)


@pytest.mark.parametrize("landed", [True, False])
@pytest.mark.parametrize("suffix", [HEAD_FILE, ".json"])  # the head; the manifest first
async def test_a_write_whose_answer_was_lost_is_settled_by_reading_it(
    suffix: str, landed: bool
) -> None:
    provider = _LostAnswers(suffix, [landed])
    store = ArtifactStore(provider)
    result = await store.store_artifact("a", "first")
    assert result.success, result.error
    assert result.data is not None
    assert result.data["version"] == "v1"  # one version, no number skipped
    assert await store.get_artifact("a") == "first"
    assert await store.get_artifact_versions("a") == ["v1"]
    assert (await store.store_artifact("a", "second")).success
    assert await store.get_artifact_versions("a") == ["v1", "v2"]
