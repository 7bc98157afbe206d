"""Fixtures of the catalog tests: a PostgreSQL database of our own, and the shared data set.

``postgres_url`` (session): a database with a random name created on the
PostgreSQL at 127.0.0.1:5432 (trust auth, user postgres) and dropped at the
end; without a server the tests that need it are skipped with the reason
(failed under ``CI=true``).

``dataset`` (module): one small store with every kind of value the language
compares (metadata of each JSON kind, unicode, quotes, LIKE wildcards in
names, aliases, lineage, deleted versions), written through a PostgreSQL- or
SQLite-indexed store so the notifications fill one index; the other is built
by its first ``find``.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from storeroom.artifactstore import ArtifactStore
from storeroom.catalog import Index, open_index
from storeroom.catalog.sql import SQLIndex
from storeroom.providers.memory import MemoryProvider

SERVER = os.environ.get("STOREROOM_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
BACKENDS = ["scan", "sqlite", "postgresql"]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: PostgreSQL must be available)")
    pytest.skip(reason)


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True, connect_timeout=3) as conn:
        conn.execute(sql)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The server URL, or ``"!"`` and the reason if nothing answers."""
    try:
        _admin("SELECT 1")
    except Exception as exc:  # any failure to connect means "no server"
        yield f"!PostgreSQL at {SERVER} is not available: {exc}".splitlines()[0]
        return
    yield SERVER


@pytest.fixture(scope="session")
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh database of this run (dropped at the end)."""
    if postgres_server.startswith("!"):
        _unavailable(postgres_server[1:])
    name = f"storeroom_catalog_{secrets.token_hex(6)}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"{postgres_server}/{name}"
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def fresh_postgres(postgres_url: str, **options: Any) -> Index:
    """An index on the run's database, emptied first (tests run one at a time)."""
    index = open_index(postgres_url, **options)
    assert isinstance(index, SQLIndex)
    await index.clear()
    await index._write([("DELETE FROM catalog_state", [()])])  # never built, not rebuilding
    return index


@dataclass
class Dataset:
    provider: MemoryProvider
    stores: dict[str, ArtifactStore]
    created: dict[str, str]  # "name@vN" -> ISO time
    sha256: dict[str, str]


async def fill(store: ArtifactStore) -> tuple[dict[str, str], dict[str, str]]:
    """The data set every conformance test queries (see the module docstring)."""
    created: dict[str, str] = {}
    sha: dict[str, str] = {}

    async def put(
        name: str, content: str | bytes, metadata: dict[str, Any],
        content_type: str = "text/plain", inputs: list[Any] | None = None,
    ) -> None:
        result = await store.store_artifact(name, content, content_type, metadata, inputs=inputs)
        assert result.success, result
        assert result.data is not None
        assert result.metadata is not None
        key = f"{name}@{result.data['version']}"
        created[key] = result.metadata["created_at"]
        sha[key] = result.data["sha256"]

    await put("data/train.csv", "a,b\n" * 10, {"rows": 1000}, "text/csv")
    await put("data/train.csv", "a,b\n" * 20, {"rows": 2000}, "text/csv")
    await put("data/train.csv", "a,b\n" * 30, {"rows": 3000}, "text/csv")  # deleted below
    await put("data/test.csv", "a,b\n" * 5, {"rows": 50, "weird key": 1, "a.b": "dot"}, "text/csv")
    await put("models/resnet", "r" * 100, {"stage": "dev", "acc": 0.71, "epochs": 10,
                                           "tags": ["a"]})
    await put("models/resnet", "r" * 200, {"stage": "prod", "acc": 0.83, "epochs": 20, "ok": True})
    await put("models/resnet", "r" * 300, {"stage": "dev", "acc": 0.85, "epochs": 30, "ok": False,
                                           "note": None},
              inputs=["data/train.csv@v2", ("data/test.csv", "latest")])
    await put("models/vit", bytes(range(256)) * 2, {"stage": "prod", "acc": 0.9, "owner": "Ann"},
              "application/octet-stream")
    await put("models/vit", b"\xff" * 10, {"stage": "Prod", "acc": "high"},
              "application/octet-stream", inputs=[("data/train.csv", "v1")])
    await put("Models/upper", "u", {"stage": "PROD"})
    await put("reports/q%_1", "report", {"author": "O'Brien", "stage": "dev"})
    await put("reports/qx1", "report two", {"author": "Brien"})
    await put("ünï/çødé", "ü", {"lang": "ü"})
    await put("ünï/zz", "z", {"lang": "z"})
    for i in range(3):
        await put("tmp/x", f"tmp {i}", {"i": i})
    assert (await store.set_alias("models/resnet", "prod", "v2")) == "v2"
    assert (await store.set_alias("models/resnet", "best", "v3")) == "v3"
    assert (await store.set_alias("models/vit", "prod", "v1")) == "v1"
    assert (await store.set_alias("tmp/x", "gone", "v1")) == "v1"
    deleted = await store.delete_artifact("data/train.csv", "v3")
    assert deleted.success
    assert await store.keep_last("tmp/x", 1) == ["v1", "v2"]
    return created, sha


@pytest.fixture(scope="module")
def dataset(postgres_server: str) -> Iterator[Dataset]:
    """The data set, and a store per backend on it (PostgreSQL only if it answers)."""
    provider = MemoryProvider()
    folder = tempfile.mkdtemp(prefix="storeroom-catalog-")
    pg_url: str | None = None
    database = None
    if not postgres_server.startswith("!"):
        database = f"storeroom_catalog_{secrets.token_hex(6)}"
        _admin(f'CREATE DATABASE "{database}"')
        pg_url = f"{postgres_server}/{database}"
    stores = {
        "scan": ArtifactStore(provider),
        "sqlite": ArtifactStore(provider, index=f"sqlite:///{Path(folder) / 'c.db'}"),
    }
    if pg_url:
        stores["postgresql"] = ArtifactStore(provider, index=pg_url)
    writer = stores.get("postgresql", stores["sqlite"])
    created, sha = asyncio.run(fill(writer))
    try:
        yield Dataset(provider, stores, created, sha)
    finally:
        for store in stores.values():
            if store.index is not None:
                asyncio.run(store.index.aclose())
        if database:
            _admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, dataset: Dataset, postgres_server: str) -> str:
    """Each backend's name; PostgreSQL's tests skip (fail in CI) without a server."""
    name: str = request.param
    if name == "postgresql" and name not in dataset.stores:
        _unavailable(postgres_server[1:])
    return name
