"""The API against its own OpenAPI document, with schemathesis (bounded examples).

Every operation of ``/api/openapi.json`` is called with generated arguments; the
responses must never be a server error, must use a documented status code and
content type, and must match the documented schemas. The write operations run on
a separate read-write app over a scratch store, with the bearer token.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from storeroom.serve import LOOPBACK_HOSTS, ServeSettings

from .conftest import TOKEN, make_app, populate

schemathesis = pytest.importorskip("schemathesis")
from schemathesis import checks  # noqa: E402

_CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]
_SETTINGS = settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)


def _schema(root: Path, **options: Any) -> Any:
    # schemathesis calls the app as http://testserver
    server = ServeSettings(allowed_hosts=(*LOOPBACK_HOSTS, "testserver"), **options)
    app, _ = make_app(root, server)
    return schemathesis.openapi.from_asgi("/api/openapi.json", app)


@pytest.fixture(scope="module")
def read_only(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("schema-ro")
    asyncio.run(populate(root))
    return _schema(root)


@pytest.fixture(scope="module")
def read_write(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("schema-rw")
    asyncio.run(populate(root))
    return _schema(root, allow_write=True, token=TOKEN, max_body=65536)


def _run(schema: Any, headers: dict[str, str] | None = None) -> int:
    """Call every operation with generated cases; returns how many were called."""
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @_SETTINGS
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            nonlocal calls
            calls += 1
            case.call_and_validate(headers=headers, checks=_CHECKS)

        run()
    return calls


def test_read_api_matches_its_document(read_only: Any) -> None:
    assert _run(read_only) >= 8 * 2


def test_write_api_matches_its_document(read_write: Any) -> None:
    assert _run(read_write, {"Authorization": f"Bearer {TOKEN}"}) >= 12 * 2
