"""The index: told of every change, catches up from the store, never resurrects, rebuilds."""

from __future__ import annotations

import asyncio
import contextlib
import random
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

import storeroom
from storeroom.artifactstore import ArtifactStore
from storeroom.catalog import Entry, Index, open_index
from storeroom.catalog.index import Change
from storeroom.catalog.sql import MIGRATIONS, SQLIndex
from storeroom.catalog.sqlite import SQLiteIndex
from storeroom.errors import BackendUnavailable, ConfigurationError, NotSupported
from storeroom.providers.memory import MemoryProvider

from .conftest import _unavailable, fresh_postgres

Factory = Callable[..., Any]


@pytest.fixture(params=["sqlite", "postgresql"])
async def make_index(
    request: pytest.FixtureRequest, postgres_server: str
) -> AsyncIterator[Factory]:
    """``await make_index(**options)``: a fresh, empty index of each kind."""
    made: list[Index] = []

    async def make(**options: Any) -> Index:
        if request.param == "sqlite":
            index = open_index(f"sqlite:///{Path(tempfile.mkdtemp()) / 'c.db'}", **options)
        else:
            if postgres_server.startswith("!"):
                _unavailable(postgres_server[1:])
            index = await fresh_postgres(request.getfixturevalue("postgres_url"), **options)
        made.append(index)
        return index

    yield make
    for index in made:
        await index.aclose()


async def everything(store: ArtifactStore) -> list[Entry]:
    return (await store.find("", limit=10_000)).entries


async def test_notifications_keep_the_index_exact(make_index: Factory) -> None:
    provider = MemoryProvider()
    scan = ArtifactStore(provider)
    store = ArtifactStore(provider, index=await make_index())
    await store.store_artifact("a", "1", metadata={"k": 1})
    watermark = await store.index.watermark() if store.index else None
    assert (await store.find("")).entries == await everything(scan)  # first find builds it
    built = await store.index.watermark() if store.index else None
    assert watermark is None
    assert built is not None

    async def check() -> None:
        assert await everything(store) == await everything(scan)
        assert await store.list_artifacts() == await scan.list_artifacts()
        assert store.index is not None
        assert await store.index.watermark() == built  # answered without catching up

    for i in range(4):
        await store.store_artifact("a", f"v{i}", metadata={"k": i}, inputs=["a@v1"])
        await store.store_artifact("b", f"b{i}")
        await check()
    await store.set_alias("a", "prod", "v2")
    await check()
    await store.set_alias("a", "prod", "v3")
    await store.remove_alias("a", "prod")
    await store.set_alias("b", "keep", "v1")
    await check()
    await store.delete_artifact("a", "v2")
    await check()
    assert await store.keep_last("a", 2) == ["v1", "v3"]
    await check()
    await store.delete_artifact("b")
    await check()
    assert [e.name for e in await everything(store)] == ["a", "a"]


async def test_a_change_the_index_missed_is_found_by_reconcile(make_index: Factory) -> None:
    provider = MemoryProvider()
    scan = ArtifactStore(provider)
    index = await make_index()
    store = ArtifactStore(provider, index=index)
    await store.store_artifact("a", "1")
    await store.find("")  # built
    # a writer that dies between the manifest and the index looks, to the index,
    # exactly like a writer that never told it: one without the index configured
    await scan.store_artifact("a", "2", metadata={"late": True})
    await scan.set_alias("a", "x", "v1")
    page = await store.find("")
    assert [e.version for e in page.entries] == ["v1"]  # not silently: as_of says how old
    assert page.as_of is not None
    assert page.as_of < datetime.now(timezone.utc)
    report = await store.reconcile()
    assert report.artifacts == 1
    assert await everything(store) == await everything(scan)
    rebuilt = ArtifactStore(provider, index=await make_index())
    await rebuilt.reindex()
    assert await everything(rebuilt) == await everything(store)


async def test_max_lag_catches_up_before_answering(make_index: Factory) -> None:
    provider = MemoryProvider()
    scan = ArtifactStore(provider)
    store = ArtifactStore(provider, index=await make_index(max_lag=0))
    await store.store_artifact("a", "1")
    await scan.store_artifact("a", "2")
    assert [e.version for e in (await store.find("")).entries] == ["v1", "v2"]


async def test_a_failed_notification_marks_the_index_dirty(make_index: Factory) -> None:
    provider = MemoryProvider()
    index = await make_index()
    store = ArtifactStore(provider, index=index)
    await store.store_artifact("a", "1")
    await store.find("")
    original = index.record

    async def broken(changes: Sequence[Change]) -> None:
        raise BackendUnavailable("index down")

    index.record = broken
    result = await store.store_artifact("a", "2")
    assert result.success  # the store is the truth: the version exists
    await index.flush()
    assert index.dirty
    index.record = original
    assert [e.version for e in (await store.find("")).entries] == ["v1", "v2"]
    assert not index.dirty


async def test_a_late_notification_cannot_resurrect_a_deleted_version(
    make_index: Factory,
) -> None:
    provider = MemoryProvider()
    index = await make_index()
    store = ArtifactStore(provider, index=index)
    for i in range(4):
        await store.store_artifact("a", str(i))
    await store.find("")
    old = [await store.get_version("a", f"v{n}") for n in (1, 2, 3)]
    await store.delete_artifact("a", "v3")
    await store.keep_last("a", 1)  # v1, v2 below the floor now
    for version in old:
        await index.stored(version)  # arriving after the deletion
    assert [e.version for e in await everything(store)] == ["v4"]


async def test_paging_is_stable_while_writers_add_versions(make_index: Factory) -> None:
    provider = MemoryProvider()
    for store in (ArtifactStore(provider), ArtifactStore(provider, index=await make_index())):
        for name in ("b", "d", "f", "h"):
            await store.store_artifact(name, name)
        before = {(e.name, e.number) for e in await everything(store)}
        seen: list[tuple[str, int]] = []
        token = None
        writes = iter(["a", "c", "e", "g", "i", "b", "h"])
        while True:
            page = await store.find("", limit=2, page_token=token)
            seen += [(e.name, e.number) for e in page.entries]
            token = page.next_page_token
            if token is None:
                break
            await store.store_artifact(next(writes), "new")  # before and after the cursor
        assert len(seen) == len(set(seen))  # no duplicates
        assert before <= set(seen)  # nothing that existed was skipped
        assert seen == sorted(seen)


async def test_migrations_run_once(make_index: Factory) -> None:
    index = await make_index()
    assert isinstance(index, SQLIndex)
    await index.watermark()
    await index.aclose()  # reopening runs no migration twice
    rows = await index._fetch("SELECT version FROM catalog_schema ORDER BY version", [])
    assert [r[0] for r in rows] == list(range(1, len(MIGRATIONS) + 1))


async def test_reindex_streams_every_artifact_in_batches(make_index: Factory) -> None:
    from storeroom.catalog import sync

    provider = MemoryProvider()
    store = ArtifactStore(provider, index=await make_index())
    scan = ArtifactStore(provider)
    for i in range(sync.BATCH + 5):  # more than one batch
        await scan.store_artifact(f"n/{i:04d}", str(i))
    counted: list[int] = []
    assert store.index is not None
    report = await sync.rebuild(store, store.index, counted.append)
    assert report.artifacts == report.versions == sync.BATCH + 5
    assert len(counted) == 2
    assert await everything(store) == await everything(scan)


def test_index_urls() -> None:
    with pytest.raises(ConfigurationError, match="known: postgres://, postgresql://, sqlite://"):
        open_index("mysql://x/y")
    with pytest.raises(ConfigurationError, match="known: max_lag, slack"):
        open_index("sqlite:///x.db?colour=red")
    with pytest.raises(ConfigurationError, match="seconds"):
        open_index("sqlite:///x.db", max_lag="soon")
    index = open_index("sqlite:////tmp/x.db?max_lag=5")
    assert index.max_lag == 5.0
    assert isinstance(index, SQLiteIndex)
    assert str(index.path) == "/tmp/x.db"
    pg = open_index("postgresql://user:s3cret@127.0.0.1:5432/db?slack=1")
    assert "s3cret" not in repr(pg)
    assert pg.slack == 1.0
    store = storeroom.artifacts("memory://", index="sqlite:///rel/c.db")
    assert store.index is not None
    assert isinstance(store.index, SQLiteIndex)
    assert str(store.index.path) == "rel/c.db"


async def test_reindex_needs_an_index() -> None:
    with pytest.raises(NotSupported):
        await ArtifactStore(MemoryProvider()).reindex()


async def test_a_burst_of_stores_is_one_transaction_per_batch(make_index: Factory) -> None:
    provider = MemoryProvider()
    index = await make_index()
    store = ArtifactStore(provider, index=index)
    await store.find("")
    batches: list[int] = []
    original = index.record

    async def counting(changes: Sequence[Change]) -> None:
        batches.append(len(changes))
        await original(changes)

    index.record = counting
    await asyncio.gather(*(store.store_artifact(f"n/{i}", str(i)) for i in range(40)))
    await store.set_alias("n/1", "x", "v1")
    await store.delete_artifact("n/2")
    await index.flush()
    assert sum(batches) == 42
    assert len(batches) < 42  # the stores did not wait for one commit each
    assert await everything(store) == await everything(ArtifactStore(provider))


async def test_a_cancelled_reader_does_not_cancel_the_index_writer(make_index: Factory) -> None:
    provider = MemoryProvider()
    index = await make_index()
    store = ArtifactStore(provider, index=index)
    await store.find("")
    release = asyncio.Event()
    original = index.record

    async def slow(changes: Sequence[Change]) -> None:
        await release.wait()
        await original(changes)

    index.record = slow
    await store.store_artifact("a", "1")
    reader = asyncio.ensure_future(store.find(""))
    await asyncio.sleep(0.01)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    release.set()
    await index.flush()
    assert not index.dirty
    assert [e.version for e in (await store.find("")).entries] == ["v1"]


async def test_on_s3_reconcile_and_rebuild_agree_with_the_scan(s3_server: Any) -> None:
    """Listings' modification times drive reconcile on an object store too (moto)."""
    import uuid

    url = s3_server.url(f"catalog-{uuid.uuid4().hex[:8]}")
    index = open_index(f"sqlite:///{Path(tempfile.mkdtemp()) / 'c.db'}")
    store = ArtifactStore(storeroom.provider(url), index=index)
    scan = ArtifactStore(storeroom.provider(url))
    await store.store_artifact("m/a", "1", metadata={"stage": "dev"})
    await store.find("")
    await scan.store_artifact("m/a", "2", metadata={"stage": "prod"})  # behind the index's back
    await scan.store_artifact("m/b", "1", inputs=["m/a@v2"])
    await store.reconcile()
    assert await everything(store) == await everything(scan)
    assert [e.name for e in (await store.find("input = 'm/a@v2'")).entries] == ["m/b"]
    await store.reindex()
    assert await everything(store) == await everything(scan)
    await store.aclose()
    await scan.aclose()


async def test_while_another_process_rebuilds_the_scan_answers(make_index: Factory) -> None:
    provider = MemoryProvider()
    index = await make_index()
    store = ArtifactStore(provider, index=index)
    scan = ArtifactStore(provider)
    for i in range(3):
        await store.store_artifact(f"a/{i}", str(i), metadata={"i": i})
    await store.find("")
    await index.clear()  # what a rebuild elsewhere has done so far: nothing in the index yet
    assert await index.rebuilding() is not None
    page = await store.find("metadata.i >= 1")
    assert page.source == "scan"  # not the half-built index
    assert [e.name for e in page.entries] == ["a/1", "a/2"]
    assert await store.list_artifacts() == await scan.list_artifacts()
    assert await index.watermark() is None  # and the reader did not start a rebuild of its own
    await store.reindex()
    assert await index.rebuilding() is None
    assert (await store.find("metadata.i >= 1")).source == index.source


async def test_sqlite_drives_a_conjunction_from_its_rarest_equality() -> None:
    from storeroom.catalog import parse
    from storeroom.catalog.query import And

    index = open_index(f"sqlite:///{Path(tempfile.mkdtemp()) / 'c.db'}")
    assert isinstance(index, SQLIndex)
    store = ArtifactStore(MemoryProvider(), index=index)
    for i in range(30):
        await store.store_artifact(f"a/{i}", str(i), metadata={"common": "x", "rare": f"y{i}"})
    await store.find("")  # built
    for text, driver in (("metadata.common = 'x' and metadata.rare = 'y7'", 1),
                         ("metadata.rare = 'y7' and size > 0 and metadata.common = 'x'", 0)):
        tree = parse(text)
        assert isinstance(tree, And)
        assert await index._driver(tree) == driver
        assert [e.name for e in (await store.find(text)).entries] == ["a/7"]
    await store.aclose()


async def test_a_rebuild_cancelled_anywhere_leaves_no_write_running(make_index: Factory) -> None:
    from storeroom.catalog import sync

    provider = MemoryProvider()
    index = await make_index()
    store = ArtifactStore(provider, index=index)
    scan = ArtifactStore(provider)
    for i in range(2 * sync.BATCH + 5):  # three batches: reads overlap writes
        await scan.store_artifact(f"n/{i:04d}", str(i))
    running: list[int] = []
    original = index.apply

    async def watched(states: Sequence[Any]) -> None:
        running.append(len(states))
        try:
            await original(states)
        finally:
            running.pop()

    index.apply = watched
    started = asyncio.get_running_loop().time()
    await sync.rebuild(store, index)
    took = asyncio.get_running_loop().time() - started
    rng = random.Random(5)
    for _ in range(12):
        rebuilding = asyncio.ensure_future(sync.rebuild(store, index))
        await asyncio.sleep(rng.uniform(0, took))
        rebuilding.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await rebuilding
        assert running == []  # the cancelled rebuild's last write has stopped too
    await sync.rebuild(store, index)
    assert await everything(store) == await everything(scan)
