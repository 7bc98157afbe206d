"""The listing snapshot: served at once, refreshed in the background, re-reading only
changed heads, and never hiding a write made through the server from its writer."""

from __future__ import annotations

import asyncio
from pathlib import Path

from storeroom.artifactstore import ArtifactStore
from storeroom.providers.local.provider import LocalProvider
from storeroom.serve.listing import Snapshot


class CountingProvider(LocalProvider):
    reads: list[str]

    async def read(self, path: str) -> bytes:
        self.reads.append(path)
        return await super().read(path)


async def test_snapshot_refreshes_incrementally_and_matches_list_artifacts(
    tmp_path: Path,
) -> None:
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
