"""``--signed-downloads`` against a real S3 API (moto): a 307 to a short-lived signed URL
that serves the exact bytes, the sha256 carried along; inline content streams instead."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterator

import httpx
import pytest

from storeroom.artifactstore import ArtifactStore
from storeroom.serve import ServeSettings, create_app
from storeroom.urls import provider
from tests.services.cloud import CloudServer


@pytest.fixture
async def s3_store(s3_server: CloudServer) -> AsyncIterator[ArtifactStore]:
    store = ArtifactStore(provider(s3_server.url(f"serve-{secrets.token_hex(4)}")))
    yield store
    await store.aclose()


async def test_signed_download_redirects_with_sha(s3_store: ArtifactStore) -> None:
    content = secrets.token_bytes(200_000)
    await s3_store.store_artifact("model.bin", content, "application/octet-stream")
    await s3_store.store_artifact("tiny.txt", "small", "text/plain")  # inline: no blob to sign
    app = create_app(s3_store, None, ServeSettings(signed_downloads=True, signed_ttl=60))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        redirect = await http.get("/api/content", params={"name": "model.bin"})
        tiny = await http.get("/api/content", params={"name": "tiny.txt"})
    sha = hashlib.sha256(content).hexdigest()
    assert redirect.status_code == 307
    assert redirect.headers["x-storeroom-sha256"] == sha
    assert redirect.headers["etag"] == f'"{sha}"'
    location = redirect.headers["location"]
    assert "X-Amz-Signature=" in location
    assert "X-Amz-Expires=60" in location
    async with httpx.AsyncClient() as direct:  # no credentials: the signature is enough
        fetched = await direct.get(location)
    assert fetched.status_code == 200
    assert hashlib.sha256(fetched.content).hexdigest() == sha
    assert tiny.status_code == 200
    assert tiny.content == b"small"
