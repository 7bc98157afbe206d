"""Pytest plugin: a Redis server for the tests, shared politely.

Fixtures:

- ``redis_url`` (session): ``redis://127.0.0.1:6379/0`` if something there
  answers ``PING``; else a ``redis-server`` of our own on a free port (if the
  binary is installed), stopped at the end of the session; else the tests are
  skipped with the reason (failed under ``CI=true``).
- ``redis_namespace`` (session): a random prefix for this run. Every test
  puts its keys under namespaces that start with it; at the end of the
  session any key left under it is removed (``SCAN`` + ``UNLINK``, never
  ``FLUSHDB``, never ``KEYS``), and nothing else is touched.
- ``dead_redis_url``: a ``redis://`` URL of a loopback port where nothing
  listens, for testing what happens when Redis is down.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
import redis

from storeroom.caches.redis import glob_escape
from tests.services.cloud import _free_port, _stop  # the process helpers of this package

__all__ = ["dead_redis_url", "redis_namespace", "redis_url"]

_DEFAULT_HOST, _DEFAULT_PORT = "127.0.0.1", 6379
_START_TIMEOUT = 10.0


def _answers_ping(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _pid_serving(port: int) -> int | None:
    """The process id the server on ``127.0.0.1:port`` reports (``INFO server``)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
            sock.sendall(b"INFO server\r\n")
            reply = b""
            while b"process_id:" not in reply or not reply.endswith(b"\r\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
    except OSError:
        return None
    for line in reply.decode(errors="replace").splitlines():
        if line.startswith("process_id:"):
            return int(line.partition(":")[2])
    return None


_S = TypeVar("_S")
#: How many times a setup of several servers is started before its failure counts.
START_ATTEMPTS = 3


def first_started(start: Callable[[int], _S]) -> _S:
    """``start(attempt)`` until one succeeds, at most :data:`START_ATTEMPTS` times.

    A setup of several servers chooses free ports before its servers bind them,
    so another process (the other pytest-xdist worker starting its own setup at
    the same moment) can take one in between: such a start fails
    (``RuntimeError``) and is tried again on fresh ports. ``start`` stops what
    it started before it raises.
    """
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            return start(attempt)
        except (RuntimeError, subprocess.SubprocessError):
            if attempt == START_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _start_server(
    binary: str, port: int, folder: str, *extra: str, config: str | None = None
) -> subprocess.Popen[bytes]:
    """A ``redis-server`` on ``127.0.0.1:port`` (``config``: a file to start from), answering.

    The server that answers must be this one: a free port is chosen before the
    server binds it, and another process (another pytest-xdist worker starting
    its own servers) may take it first; then this fails rather than hand over
    somebody else's server.
    """
    process = subprocess.Popen(
        [binary, *([config] if config else []), "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--dir", folder, *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if _answers_ping("127.0.0.1", port):
            if _pid_serving(port) == process.pid:
                return process
            process.kill()
            process.wait()
            raise RuntimeError(f"another process took 127.0.0.1:{port} first")
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    process.wait()
    raise RuntimeError(f"redis-server did not answer on 127.0.0.1:{port}")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis that answers, for the whole session (see the module docstring)."""
    if _answers_ping(_DEFAULT_HOST, _DEFAULT_PORT):
        yield f"redis://{_DEFAULT_HOST}:{_DEFAULT_PORT}/0"
        return
    binary = require_binary(
        "redis-server", f"nothing answers PING at {_DEFAULT_HOST}:{_DEFAULT_PORT} and "
    )
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="sr-redis-") as folder:
        process = _start_server(binary, port, folder)
        try:
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            _stop(process)


def require_binary(name: str, context: str = "") -> str:
    """The path of ``name``; else skip (fail under ``CI=true``) saying why."""
    binary = shutil.which(name)
    if binary is None:
        reason = f"Redis is unavailable: {context}{name} is not installed"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: Redis must be available)")
        pytest.skip(reason)
    return binary


@pytest.fixture(scope="session")
def redis_namespace(redis_url: str) -> Iterator[str]:
    """A random prefix for this run's namespaces; its leftovers are removed at the end."""
    run = f"sr-test-{uuid.uuid4().hex[:12]}"
    yield run
    client = redis.Redis.from_url(redis_url)
    try:
        leftovers = list(client.scan_iter(match=glob_escape(run) + "*", count=1000))
        for start in range(0, len(leftovers), 500):
            client.unlink(*leftovers[start : start + 500])
    finally:
        client.close()


@pytest.fixture
def dead_redis_url() -> str:
    """A ``redis://`` URL of a loopback port where nothing listens."""
    return f"redis://127.0.0.1:{_free_port()}/0"
