"""Pytest plugin: the cloud emulators, started on 127.0.0.1 for the session.

Fixtures (session-scoped, each started on first use and stopped at the end):

- ``s3_server``: moto's server (``moto[server]``), in a thread of this process;
- ``azure_server``: Azurite's blob service from ``node_modules`` (``npm ci``),
  in memory, as a child process;
- ``gcs_server``: ``gcp-storage-emulator`` (from PyPI), in memory, as a child
  process, behind :class:`~tests.services.gcsxml.GcsXmlGateway` (obstore
  speaks GCS's XML API, the emulator only the JSON API).

Each returns a :class:`CloudServer` whose ``url(prefix)`` is a complete
storeroom URL (endpoint, ``allow_http``, dummy credentials; the bucket or
container already made) that works in ``storeroom.provider(url)`` in this
process and in a subprocess. A missing emulator skips its tests with the
reason, and fails them under ``CI=true``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from storeroom.providers.object.azure import AZURITE_ACCOUNT, AZURITE_KEY, AzureProvider
from storeroom.providers.object.store import ObjectStoreProvider

from .gcsxml import GcsXmlGateway

__all__ = [
    "AZURITE_ACCOUNT",
    "AZURITE_KEY",
    "CloudServer",
    "azure_server",
    "gcs_server",
    "raw_put",
    "s3_server",
]

_REPO = Path(__file__).resolve().parents[2]
_AZURITE = _REPO / "node_modules" / ".bin" / "azurite-blob"
_START_TIMEOUT = 30.0


@dataclass(frozen=True)
class CloudServer:
    """A running emulator and one bucket (or container) on it.

    Attributes:
        scheme: the storeroom scheme (``s3``, ``az``).
        bucket: the bucket or container made for the session.
        endpoint: the emulator's base URL.
        options: the URL options every store on it needs (endpoint, dummy credentials).
    """

    scheme: str
    bucket: str
    endpoint: str
    options: dict[str, str] = field(default_factory=dict)

    def url(self, prefix: str) -> str:
        """A storeroom URL for the store under ``prefix`` in the session's bucket."""
        return f"{self.scheme}://{self.bucket}/{prefix.strip('/')}?{urlencode(self.options)}"

    def with_bucket(self, bucket: str) -> CloudServer:
        """The same emulator with a bucket (or container) of its own, made now.

        For a suite that lists a lot: moto scans every key of a bucket for each
        listing, so keys other tests left in the session's bucket slow it down.
        """
        if self.scheme == "s3":
            _put(f"{self.endpoint}/{bucket}")
        elif self.scheme == "az":
            _shared_key_put(self.endpoint, bucket)
        else:
            raise NotImplementedError(f"no second bucket on the {self.scheme} emulator")
        return replace(self, bucket=bucket)


def _unavailable(reason: str) -> None:
    """Skip (fail under ``CI=true``): an emulator the suite needs is missing."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: emulators must be installed)")
    pytest.skip(reason)


class Serialized:
    """moto's app, one request at a time.

    moto checks an ``If-Match`` / ``If-None-Match`` precondition and then
    stores the object without a lock, so two concurrent conditional puts can
    both win (a compare-and-swap counter ended at 398 of 400), and a GET racing
    a PUT of the same key can read a buffer the PUT just closed. S3 itself
    decides each request atomically; one lock around every request makes the
    emulator do the same (it runs under one GIL anyway).
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        with self.lock:
            return list(self.app(environ, start_response))


def _quiet(handler: Any) -> Any:
    """``handler`` without werkzeug's log line for each request (errors are still logged)."""

    class Quiet(handler):  # type: ignore[misc]
        def log_request(self, *args: Any) -> None:
            pass

    return Quiet


def _put(url: str, headers: dict[str, str] | None = None) -> None:
    request = urllib.request.Request(url, data=b"", method="PUT", headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[CloudServer]:
    """moto's S3 server on a free port of 127.0.0.1, with the bucket ``storeroom-test``."""
    try:
        from moto.moto_server.werkzeug_app import create_backend_app
        from moto.server import ThreadedMotoServer
    except ImportError:
        _unavailable("moto[server] is not installed (pip install -e '.[dev]')")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    wsgi = server._server  # werkzeug's server
    assert wsgi is not None
    # moto's S3 app itself, not its dispatcher across every AWS service: for each
    # request the dispatcher works out the service again, stat-ing each of moto's
    # ~170 service folders (a third of every request's time); only S3 is spoken here.
    wsgi.app = Serialized(create_backend_app("s3"))
    wsgi.RequestHandlerClass = _quiet(wsgi.RequestHandlerClass)
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        _put(f"{endpoint}/storeroom-test")
        yield CloudServer(
            scheme="s3",
            bucket="storeroom-test",
            endpoint=endpoint,
            options={
                "endpoint": endpoint,
                "allow_http": "true",
                "region": "us-east-1",
                "access_key_id": "testing",
                "secret_access_key": "testing",
            },
        )
    finally:
        server.stop()


def _shared_key_put(endpoint: str, container: str) -> None:
    """Create ``container`` on Azurite (Shared Key auth, as the Azure REST API wants)."""
    _azure_put(f"{endpoint}/{container}", {"restype": "container"}, b"", {})


def _azure_put(url: str, query: dict[str, str], data: bytes, extra: dict[str, str]) -> None:
    """One Shared Key signed PUT to Azurite (``url``'s path percent-encoded as sent)."""
    headers = {"x-ms-date": formatdate(usegmt=True), "x-ms-version": "2021-08-06", **extra}
    canonical = "".join(f"{name}:{value}\n" for name, value in sorted(headers.items()))
    path = urllib.parse.urlsplit(url).path
    resource = f"/{AZURITE_ACCOUNT}{path}" + "".join(f"\n{k}:{v}" for k, v in sorted(query.items()))
    length = str(len(data)) if data else ""
    # VERB, 3 empty headers, Content-Length, Content-MD5, Content-Type, 6 empty, x-ms-*, resource.
    to_sign = f"PUT\n\n\n{length}\n\napplication/octet-stream\n\n\n\n\n\n\n" + canonical + resource
    digest = hmac.new(base64.b64decode(AZURITE_KEY), to_sign.encode(), hashlib.sha256).digest()
    headers["Content-Type"] = "application/octet-stream"
    headers["Authorization"] = f"SharedKey {AZURITE_ACCOUNT}:{base64.b64encode(digest).decode()}"
    target = f"{url}?{urlencode(query)}" if query else url
    request = urllib.request.Request(target, data=data, method="PUT", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def raw_put(provider: ObjectStoreProvider, key: str, data: bytes) -> None:
    """Store ``data`` at ``key`` of an emulator's ``provider`` as another tool would (no obstore).

    Any key the server takes, ``../x`` and ``a//b`` included: every dot segment is
    percent-encoded so no client or server on the way resolves it as a path.
    """
    config = provider.config  # type: ignore[attr-defined]
    bucket = getattr(config, "bucket", None) or config.container
    full = f"{config.prefix.strip('/')}/{key}" if config.prefix.strip("/") else key
    path = "/".join(
        "%2E" * len(part) if part in (".", "..") else urllib.parse.quote(part, safe="")
        for part in full.split("/")
    )
    url = f"{config.endpoint}/{bucket}/{path}"
    if isinstance(provider, AzureProvider):
        _azure_put(url, {}, data, {"x-ms-blob-type": "BlockBlob"})
        return
    request = urllib.request.Request(url, data=data, method="PUT")  # moto and the gateway: no auth
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def _wait_for_line(log: Path, marker: str, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if marker in line:
                return line
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(f"emulator did not start: {log.read_text(errors='replace')[-2000:]}")


@pytest.fixture(scope="session")
def azure_server() -> Iterator[CloudServer]:
    """Azurite's blob service, in memory, on a free port, with the container ``storeroom-test``.

    Azurite picks the port itself (``--blobPort 0``) and prints it, so no port
    is raced for. Its working folder is a temporary one (``--location`` cannot
    be combined with ``--inMemoryPersistence``, so it is the process's cwd).
    """
    if shutil.which("node") is None:
        _unavailable("Node.js is not installed (Azurite runs on it)")
    if not _AZURITE.exists():
        _unavailable(f"Azurite is not installed ({_AZURITE} missing: run `npm ci`)")
    with tempfile.TemporaryDirectory(prefix="azurite-") as workspace:
        log = Path(workspace) / "azurite.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    str(_AZURITE), "--inMemoryPersistence", "--blobHost", "127.0.0.1",
                    "--blobPort", "0", "--skipApiVersionCheck", "--disableTelemetry", "--silent",
                ],
                cwd=workspace, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        try:
            line = _wait_for_line(log, "successfully listens on", process)
            endpoint = line.rsplit(" ", 1)[-1].rstrip("/") + f"/{AZURITE_ACCOUNT}"
            _shared_key_put(endpoint, "storeroom-test")
            yield CloudServer(
                scheme="az",
                bucket="storeroom-test",
                endpoint=endpoint,
                options={
                    "endpoint": endpoint,
                    "allow_http": "true",
                    "account_name": AZURITE_ACCOUNT,
                    "account_key": AZURITE_KEY,
                },
            )
        finally:
            _stop(process)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_http(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                response.read()
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"emulator did not start: {log.read_text(errors='replace')[-2000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[CloudServer]:
    """gcp-storage-emulator, in memory, behind the XML API gateway, with ``storeroom-test``.

    obstore speaks GCS's XML API and the emulator only the JSON API, so the
    URL's endpoint is :class:`~tests.services.gcsxml.GcsXmlGateway`, which
    translates and keeps no data. ``emulator=true``: the emulator ignores
    generation preconditions, and the provider's capabilities say so.
    """
    if importlib.util.find_spec("gcp_storage_emulator") is None:
        _unavailable("gcp-storage-emulator is not installed (pip install -e '.[dev]')")
    with tempfile.TemporaryDirectory(prefix="gcs-emulator-") as workspace:
        port = _free_port()
        log = Path(workspace) / "emulator.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    sys.executable, "-m", "gcp_storage_emulator", "start", "--host", "127.0.0.1",
                    "--port", str(port), "--in-memory", "--default-bucket", "storeroom-test", "-q",
                ],
                cwd=workspace, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        try:
            upstream = f"http://127.0.0.1:{port}"
            _wait_for_http(upstream + "/", process, log)
            with GcsXmlGateway(upstream) as gateway:
                yield CloudServer(
                    scheme="gs",
                    bucket="storeroom-test",
                    endpoint=gateway.endpoint,
                    options={
                        "endpoint": gateway.endpoint,
                        "allow_http": "true",
                        "emulator": "true",
                    },
                )
        finally:
            _stop(process)
