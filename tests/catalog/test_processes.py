"""Many OS processes, one store, one index: nothing lost, nothing twice, equal to a rebuild."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from storeroom.artifactstore import ArtifactStore
from storeroom.catalog import Entry
from storeroom.providers.local import LocalProvider

from .conftest import _unavailable, fresh_postgres

PROCESSES, VERSIONS = 4, 12


def index_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    server: str = request.getfixturevalue("postgres_server")
    if server.startswith("!"):
        _unavailable(server[1:])
    url: str = request.getfixturevalue("postgres_url")
    asyncio.run(_empty(url))
    return url


async def _empty(url: str) -> None:
    await (await fresh_postgres(url)).aclose()


def writer(root: Path, url: str, process: int, count: int, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.catalog.writer", str(root), url, str(process), str(count),
         *extra],
        cwd=Path(__file__).resolve().parents[2],
    )


async def entries(store: ArtifactStore) -> list[Entry]:
    return (await store.find("", limit=10_000)).entries


async def build(root: Path, url: str) -> None:
    store = ArtifactStore(LocalProvider(root), index=url)
    await store.find("")  # built (empty): writers' notifications must bring every row
    await store.aclose()


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_concurrent_processes_lose_nothing(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = index_url(kind, tmp_path, request)
    root = tmp_path / "store"
    asyncio.run(build(root, url))
    procs = [writer(root, url, p, VERSIONS) for p in range(PROCESSES)]
    assert [proc.wait(timeout=120) for proc in procs] == [0] * PROCESSES

    async def check() -> None:
        store = ArtifactStore(LocalProvider(root), index=url)
        assert store.index is not None
        watermark = await store.index.watermark()
        indexed = await entries(store)
        assert await store.index.watermark() == watermark  # no catch-up: notifications alone
        scanned = await entries(ArtifactStore(LocalProvider(root)))
        assert indexed == scanned
        writers = sorted((e.metadata["p"], e.metadata["i"]) for e in indexed)
        assert writers == [(p, i) for p in range(PROCESSES) for i in range(VERSIONS)]
        await store.reindex()
        assert await entries(store) == indexed
        await store.aclose()

    asyncio.run(check())


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_a_writer_killed_between_manifest_and_index_loses_nothing(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = index_url(kind, tmp_path, request)
    root = tmp_path / "store"
    asyncio.run(build(root, url))
    assert writer(root, url, 0, 4).wait(timeout=60) == 0
    killed = writer(root, url, 9, 1, "kill")
    assert killed.wait(timeout=60) == -signal.SIGKILL

    async def check() -> None:
        store = ArtifactStore(LocalProvider(root), index=url)
        scan = ArtifactStore(LocalProvider(root))
        truth = await entries(scan)
        [lost] = [e for e in truth if (e.name, e.number) == ("own/9", 1)]  # the store has it
        page = await store.find("", limit=10_000)
        assert ("own/9", 1) not in [(e.name, e.number) for e in page.entries]
        assert page.as_of is not None
        assert page.as_of < lost.created  # ... and the answer says how old it is
        await store.reconcile()
        assert await entries(store) == truth
        assert store.index is not None
        await store.index.clear()
        await store.reindex()
        assert await entries(store) == truth
        await store.aclose()

    asyncio.run(check())
