"""The stores every fsspec test runs on: memory, a local folder, and S3 (moto)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tests.services.cloud import CloudServer

_counter = itertools.count()

STORES = ["memory", "local", "s3"]


def store_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh, empty store of ``kind``."""
    if kind == "memory":
        return "memory://"
    if kind == "local":
        return str(tmp_path / f"store-{next(_counter)}")
    # A bucket of its own: moto scans every key of a bucket for each listing.
    server: CloudServer = request.getfixturevalue("s3_server")
    return server.with_bucket(f"storeroom-fsspec-{next(_counter)}").url("store")


@pytest.fixture(params=STORES)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return store_url(request.param, tmp_path, request)
