"""Fixtures of the server tests: a store with real content (hostile names included),
the app in process (httpx over ASGI) and the app on a real loopback port (uvicorn
in a thread) for the browser, schemathesis and load tests."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the server extra is not installed")

import httpx
import uvicorn
from starlette.applications import Starlette

from storeroom.artifactstore import ArtifactStore
from storeroom.filestore import FileStore
from storeroom.providers.local.provider import LocalProvider
from storeroom.serve import ServeSettings, create_app

#: Names and values meant to break out of HTML, attributes, URLs and headers.
HOSTILE_NAME = 'evil/<script>alert(1)</script>"><img src=x onerror=alert(2)>.md'
HOSTILE_VALUE = '"><img src=x onerror=alert(3)><script>alert(4)</script>'
TOKEN = "s3cret-token-for-tests"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2a1a0"
    "5e0000000049454e44ae426082"
)

REPORTS = [
    ("# Quarterly report\n\nSales grew.\n", {"author": "ada", "status": "draft"}),
    (
        "# Quarterly report\n\nSales grew by 12%.\nCosts fell.\n",
        {"author": "ada", "status": "review"},
    ),
    (
        "# Quarterly report\n\nSales grew by 12%.\nCosts fell by 3%.\n\nOutlook: steady.\n",
        {"author": "grace", "status": "final"},
    ),
]


async def populate(root: Path) -> None:
    """Artifacts of every preview kind, three versions of a report, hostile names, files."""
    store = ArtifactStore(LocalProvider(str(root / "artifacts")), inline_limit=64)
    try:
        for text, meta in REPORTS:
            assert (
                await store.store_artifact("reports/q3.md", text, "text/markdown", meta)
            ).success
        await store.set_alias("reports/q3.md", "published", "v2")
        await store.store_artifact(
            "data/metrics.json", json.dumps({"accuracy": 0.93, "loss": [0.5, 0.2]}),
            "application/json", {"run": 7},
        )  # fmt: skip
        csv_text = "city,visits\n" + "".join(f"city{i},{i * 3}\n" for i in range(80))
        await store.store_artifact("data/visits.csv", csv_text, "text/csv")
        await store.store_artifact("images/dot.png", PNG, "image/png", {"w": 1})
        await store.store_artifact(
            "bin/blob.bin", bytes(range(256)) * 8, "application/octet-stream"
        )
        await store.store_artifact("logs/big.txt", "line\n" * 200_000, "text/plain")
        hostile = f"# hi\n\n<script>alert(5)</script>\n\n[x](javascript:alert(6))\n{HOSTILE_VALUE}"
        meta = {HOSTILE_VALUE: HOSTILE_VALUE}
        await store.store_artifact(HOSTILE_NAME, hostile, "text/markdown", meta)
        await store.store_artifact(HOSTILE_NAME, "second\n", "text/markdown", {"k": HOSTILE_VALUE})
        await store.store_artifact("copies/a.txt", "same content " * 100, "text/plain")
        await store.store_artifact("copies/b.txt", "same content " * 100, "text/plain")
    finally:
        await store.aclose()
    files = root / "site"
    (files / "docs").mkdir(parents=True)
    (files / "index.html").write_text("<h1>site</h1>")
    (files / "docs" / "guide.md").write_text("# Guide\n")
    (files / "docs" / "<b>odd name<i>.txt").write_text("odd\n")


@dataclass
class Served:
    """The stores of one test server."""

    root: Path
    artifacts: ArtifactStore
    files: FileStore


@pytest.fixture(scope="session")
def store_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("served")
    asyncio.run(populate(root))
    return root


def make_app(root: Path, settings: ServeSettings | None = None) -> tuple[Starlette, Served]:
    served = Served(
        root,
        ArtifactStore(LocalProvider(str(root / "artifacts")), inline_limit=64),
        FileStore(LocalProvider(str(root / "site"))),
    )
    return create_app(served.artifacts, served.files, settings), served


@pytest.fixture
async def client(store_root: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The read-only app over the populated store, in process."""
    app, served = make_app(store_root)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        yield http
    await served.artifacts.aclose()
    await served.files.provider.aclose()


@pytest.fixture
async def writer(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A read-write app over a fresh store (token: :data:`TOKEN`)."""
    await populate(tmp_path)
    app, served = make_app(tmp_path, ServeSettings(allow_write=True, token=TOKEN, max_body=4096))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        yield http
    await served.artifacts.aclose()
    await served.files.provider.aclose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """uvicorn serving the app on a loopback port, in a thread with its own loop."""

    def __init__(self, root: Path, settings: ServeSettings | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app, self.served = make_app(root, settings)
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning",
            backlog=512, timeout_keep_alive=30,
        )  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


@pytest.fixture(scope="session")
def live_server(store_root: Path) -> Iterator[LiveServer]:
    with LiveServer(store_root) as running:
        yield running
