"""Fixtures: an ArtifactStore on every backend, each under a fresh prefix.

``memory`` and ``local`` always run; ``s3`` (moto) and ``azure`` (Azurite) run
on the emulators of ``tests/services/cloud.py`` and are skipped, with the
reason, where the emulator or the provider is missing.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import storeroom
from storeroom.artifactstore import ArtifactStore
from storeroom.errors import ConfigurationError
from storeroom.interfaces import StorageResult

BACKENDS = ["memory", "local", "s3", "azure"]


def payload(result: StorageResult) -> dict[str, Any]:
    """``result.data`` of a successful write."""
    assert result.success, result.error
    assert result.data is not None
    return result.data


def backend_url(request: pytest.FixtureRequest, kind: str, tmp_path: Path) -> str:
    """A URL for a fresh, empty store on ``kind``."""
    if kind == "memory":
        return f"memory://artifacts-{uuid.uuid4().hex[:8]}"
    if kind == "local":
        return str(tmp_path / "store")
    server = request.getfixturevalue(f"{kind}_server")
    url: str = server.url(f"artifacts-{uuid.uuid4().hex}")
    try:
        storeroom.provider(url)
    except ConfigurationError as exc:
        pytest.skip(f"no {kind} provider yet: {exc}")
    return url


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty store on each backend."""
    return backend_url(request, str(request.param), tmp_path)


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[ArtifactStore]:
    """An empty ArtifactStore on each backend."""
    async with storeroom.artifacts(store_url) as artifacts:
        yield artifacts
