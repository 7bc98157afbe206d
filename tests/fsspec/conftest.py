"""The stores every fsspec test runs on: memory, a local folder, and S3 (moto)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

_counter = itertools.count()

STORES = ["memory", "local", "s3"]


def store_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh, empty store of ``kind``."""
    if kind == "memory":
        return "memory://"
    if kind == "local":
        return str(tmp_path / f"store-{next(_counter)}")
    server: Any = request.getfixturevalue("s3_server")
    url: str = server.url(f"fsspec-{next(_counter)}-{id(request)}")
    return url


@pytest.fixture(params=STORES)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return store_url(request.param, tmp_path, request)
