"""The listing snapshot: served at once, refreshed in the background, re-reading only
changed heads, and never hiding a write made through the server from its writer."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from storeroom.artifactstore import ArtifactStore
from storeroom.providers.local.provider import LocalProvider
from storeroom.serve import listing
from storeroom.serve.listing import Snapshot
from storeroom.serve.service import Browser


class CountingProvider(LocalProvider):
    reads: list[str]

    async def read(self, path: str) -> bytes:
        self.reads.append(path)
        return await super().read(path)


async def test_snapshot_refreshes_incrementally_and_matches_list_artifacts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listing, "_BACKOFF_FACTOR", 0)  # refresh whenever asked (ttl=0)
    provider = CountingProvider(str(tmp_path))
    provider.reads = []
    store = ArtifactStore(provider)
    other = ArtifactStore(LocalProvider(str(tmp_path)))  # another process, in effect
    try:
        for n in range(20):
            await other.store_artifact(f"a/{n:02d}.txt", f"v{n}", metadata={"n": n})
        snapshot = Snapshot(store, ttl=0)
        first, _ = await snapshot.entries()
        assert first == await other.list_artifacts()
        assert len(provider.reads) == 20

        await other.store_artifact("a/05.txt", "changed")
        await other.delete_artifact("a/07.txt")
        provider.reads.clear()
        stale, _ = await snapshot.entries()  # served at once, refresh started
        assert stale is first
        assert snapshot._refresh is not None
        await snapshot._refresh
        fresh, _ = await snapshot.entries()
        assert fresh == await other.list_artifacts()
        assert [r for r in provider.reads if r.startswith("heads/")] == [
            "heads/a/05.txt/@head.json",
            "heads/a/07.txt/@head.json",
        ]

        by_size, _ = await snapshot.ordered("versions", True)
        assert by_size[0]["name"] == "a/05.txt"
        assert (await snapshot.ordered("versions", True))[0] is by_size  # kept

        await store.store_artifact("b/new.txt", "x")
        snapshot.forget()
        names = [e["name"] for e in (await snapshot.entries())[0]]
        assert "b/new.txt" in names  # the writer sees its write at once
        await snapshot.aclose()
    finally:
        await store.aclose()
        await other.aclose()


async def test_forget_during_a_refresh_waits_for_a_newer_one(tmp_path: Path) -> None:
    store = ArtifactStore(LocalProvider(str(tmp_path)))
    try:
        await store.store_artifact("one.txt", "1")
        snapshot = Snapshot(store, ttl=60)
        waiting = asyncio.create_task(snapshot.entries())
        await asyncio.sleep(0)  # the first scan has started
        await store.store_artifact("two.txt", "2")
        snapshot.forget()
        entries, _ = await snapshot.entries()
        assert [e["name"] for e in entries] == ["one.txt", "two.txt"]
        await waiting
    finally:
        await store.aclose()


async def test_search_uses_the_catalog_and_shows_lineage(tmp_path: Path) -> None:
    store = ArtifactStore(LocalProvider(str(tmp_path)))
    try:
        await store.store_artifact("a.txt", "a", metadata={"author": "ann"})
        await store.store_artifact("b.txt", "b", metadata={"author": "bob"}, inputs=["a.txt"])
        browser = Browser(store)
        page = await browser.artifact_list(query="metadata.author = 'bob'")
        assert page.searched_with == "catalog"
        assert [e["name"] for e in page.entries] == ["b.txt"]
        prefix = await browser.artifact_list(query="a")  # no operator: a name prefix
        assert prefix.searched_with == "prefix"
        assert [e["name"] for e in prefix.entries] == ["a.txt"]
        assert (await browser.artifact("a.txt")).downstream == [("b.txt", "v1")]
        # not a filter (it does not parse): searched as a name prefix instead
        broken = await browser.artifact_list(query="metadata.author = ")
        assert broken.searched_with == "prefix"
        assert broken.entries == []
        await browser.aclose()
    finally:
        await store.aclose()


def test_lineage_inputs_recorded_in_a_manifest_become_links() -> None:
    from types import SimpleNamespace

    from storeroom.serve.service import _inputs

    manifest = SimpleNamespace(
        inputs=[("data/train.csv", 3), {"name": "cfg.json", "version": "v1"}]
    )
    assert _inputs(manifest) == (("data/train.csv", "v3"), ("cfg.json", "v1"))  # type: ignore[arg-type]
    assert _inputs(SimpleNamespace()) == ()  # type: ignore[arg-type]


async def test_slow_refreshes_back_off(tmp_path: Path) -> None:
    store = ArtifactStore(LocalProvider(str(tmp_path)))
    try:
        await store.store_artifact("one.txt", "1")
        snapshot = Snapshot(store, ttl=60)
        await snapshot.entries()
        assert snapshot.interval == 60  # a quick refresh: the ttl
        snapshot._scan_seconds = 5.0  # as if the last refresh had taken 5 s
        assert snapshot.interval == 100
    finally:
        await store.aclose()
