"""SQL injection attempts through every field and value: they find exactly what they spell."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storeroom.artifactstore import ArtifactStore
from storeroom.catalog import FilterError
from storeroom.providers.memory import MemoryProvider

from .conftest import _unavailable, fresh_postgres

PAYLOADS = [
    "x'; DROP TABLE catalog_versions; --",
    "x\"; DROP TABLE catalog_meta; --",
    "' OR '1'='1",
    "') OR 1=1 --",
    "%' OR name LIKE '%",
    "x\\'; DELETE FROM catalog_aliases; --",
    "?; SELECT 1",
    "%s %(x)s {0}",
    "x/**/OR/**/1=1",
    "x) UNION SELECT sqlite_version(), 1, 1, 1, 1, 1, 1, 1, 1, 1 --",
]


def key_of(i: int, payload: str) -> str:
    """An artifact name carrying the payload (keys allow no backslash, no '//')."""
    return f"inj/{i}/{payload.replace('/', '_').replace(chr(92), '_')}"


def like_literal(text: str) -> str:
    """A LIKE pattern matching exactly ``text``."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def quote(text: str) -> str:
    """A string literal of the filter language."""
    return "'" + text.replace("'", "''") + "'"


@pytest.fixture(params=["scan", "sqlite", "postgresql"])
async def store(
    request: pytest.FixtureRequest, postgres_server: str
) -> AsyncIterator[ArtifactStore]:
    provider = MemoryProvider()
    if request.param == "scan":
        built = ArtifactStore(provider)
    elif request.param == "sqlite":
        built = ArtifactStore(
            provider, index=f"sqlite:///{Path(tempfile.mkdtemp()) / 'c.db'}"
        )
    else:
        if postgres_server.startswith("!"):
            _unavailable(postgres_server[1:])
        url = request.getfixturevalue("postgres_url")
        built = ArtifactStore(provider, index=await fresh_postgres(url))
    for i, payload in enumerate(PAYLOADS):
        name = key_of(i, payload)
        result = await built.store_artifact(
            name, payload, f"text/{i}{payload}", {payload: payload, "v": payload}
        )
        assert result.success, result
        await built.set_alias(name, f"a{i}", "v1")
    await built.store_artifact("inj/consumer", "c", inputs=[key_of(0, PAYLOADS[0])])
    yield built
    await built.aclose()


async def test_every_field_and_value(store: ArtifactStore) -> None:
    total = len((await store.find("", limit=1000)).entries)
    assert total == len(PAYLOADS) + 1
    for i, payload in enumerate(PAYLOADS):
        name = key_of(i, payload)
        queries = [
            f"name = {quote(name)}",
            f"name in ({quote(name)}, {quote(payload)})",
            f"content_type = {quote(f'text/{i}{payload}')}",
            f"metadata.v = {quote(payload)}",
            f"metadata.{quote(payload)} = {quote(payload)}",
            f"metadata.{quote(payload)} like {quote(like_literal(payload))}",
            f"name like {quote(like_literal(name))}",
            f"alias = {quote(f'a{i}')} and metadata.v != {quote(payload + 'x')}",
        ]
        for query in queries:
            found = (await store.find(query, limit=1000)).entries
            assert [e.name for e in found] == [name], query
        for query in (
            f"name = {quote(payload)}",
            f"sha256 = {quote(payload)}",
            f"alias = {quote(payload)}",
            f"alias like {quote(payload)}",
            f"input = {quote(payload)}",
            f"metadata.v = {quote(payload + ' ')}",
        ):
            assert (await store.find(query)).entries == [], query
    assert len((await store.find("", limit=1000)).entries) == total  # nothing was dropped
    assert len(await store.list_artifacts()) == total


async def test_payloads_outside_literals_are_parse_errors() -> None:
    """Refused before any backend sees them (the parser is the same for all three)."""
    store = ArtifactStore(MemoryProvider())
    for payload in PAYLOADS:
        await check_refused(store, payload)


async def check_refused(store: ArtifactStore, payload: str) -> None:
    for query in (f"name = 'a' {payload}", f"{payload} = 'a'", f"name = {payload}",
                  f"metadata.{payload} = 1", f"name = 'a' and ({payload})"):
        with pytest.raises(FilterError):
            await store.find(query)
    for order in (f"name {payload}", payload):
        with pytest.raises(FilterError):
            await store.find("", order_by=[order])
