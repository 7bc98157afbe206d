"""Pytest plugin: a real Redis Cluster of six ``redis-server`` processes for the session.

``redis_cluster`` starts 3 primaries and 3 replicas on free loopback ports
(each with its own free cluster-bus port), joins them with ``redis-cli
--cluster create --cluster-replicas 1 --cluster-yes`` and waits until every
node reports ``cluster_state:ok`` (a start that fails, as when another process
took a chosen port first, is tried again on fresh ports: ``first_started``). A
short ``cluster-node-timeout`` (2 s) makes a failover take a few seconds.
Tests that kill nodes take a cluster of their own (``disposable_redis_cluster``),
so the session's stays whole.
Everything is stopped and removed at the end. Without ``redis-server`` or
``redis-cli`` the tests are skipped saying why (failed under ``CI=true``);
nothing is installed.

:class:`Cluster` can kill a primary (for failover tests) and start it again:
it rejoins as a replica, so the cluster is whole for the tests after.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

from tests.services.cloud import _free_port, _stop
from tests.services.redis import _start_server, first_started, require_binary

__all__ = [
    "Cluster",
    "disposable_redis_cluster",
    "redis_cluster",
    "redis_cluster_url",
    "running_cluster",
]

_NODES = 6
_NODE_TIMEOUT_MS = 2000  # short failovers, yet no flapping on a loaded machine
_READY_TIMEOUT = 30.0


def ask(port: int, *command: str, timeout: float = 2.0) -> str:
    """One inline command to ``127.0.0.1:port``; the raw reply text ('' if no answer)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall((" ".join(command) + "\r\n").encode())
            chunks = []
            sock.settimeout(0.3)
            while True:
                try:
                    chunk = sock.recv(65536)
                except TimeoutError:
                    break
                if not chunk:
                    break
                chunks.append(chunk)
                if chunk.endswith(b"\r\n") and len(chunk) < 65536:
                    break
            return b"".join(chunks).decode(errors="replace")
    except OSError:
        return ""


@dataclass
class Cluster:
    """The running cluster: its ports and processes."""

    binary: str
    folder: str
    ports: list[int]
    bus_ports: list[int]
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """A ``redis+cluster://`` URL naming two seed nodes."""
        return f"redis+cluster://127.0.0.1:{self.ports[0]},127.0.0.1:{self.ports[1]}"

    def start(self, port: int) -> None:
        bus = self.bus_ports[self.ports.index(port)]
        self.processes[port] = _start_server(
            self.binary, port, self.folder,
            "--cluster-enabled", "yes",
            "--cluster-config-file", f"nodes-{port}.conf",
            "--cluster-node-timeout", str(_NODE_TIMEOUT_MS),
            "--cluster-port", str(bus),
            "--cluster-replica-validity-factor", "0",
        )

    def primaries(self) -> list[int]:
        """Ports of the nodes that are primaries now."""
        return [
            port
            for port, process in self.processes.items()
            if process.poll() is None and "role:master" in ask(port, "INFO", "replication")
        ]

    def kill(self, port: int) -> None:
        process = self.processes.pop(port)
        process.kill()
        process.wait()

    def wait_ok(self, timeout: float = _READY_TIMEOUT) -> None:
        """Until every running node says ``cluster_state:ok`` and 3 primaries serve."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = [ask(port, "CLUSTER", "INFO") for port in self.processes]
            if all("cluster_state:ok" in state for state in states) and len(self.primaries()) == 3:
                return
            time.sleep(0.1)
        port = next(iter(self.processes))
        raise RuntimeError(
            f"the Redis Cluster did not become ready in {timeout:g} s; node {port} sees:\n"
            + ask(port, "CLUSTER", "NODES")
        )

    def stop(self) -> None:
        for process in self.processes.values():
            _stop(process)
        self.processes.clear()


@contextmanager
def running_cluster() -> Iterator[Cluster]:
    """A 6-node Redis Cluster (3 primaries, 3 replicas) on loopback, stopped after."""
    binary = require_binary("redis-server", "a Redis Cluster needs it: ")
    cli = require_binary("redis-cli", "a Redis Cluster needs it: ")
    with tempfile.TemporaryDirectory(prefix="sr-redis-cluster-") as folder:
        cluster = _started(binary, cli, folder)
        try:
            yield cluster
        finally:
            cluster.stop()


def _started(binary: str, cli: str, folder: str) -> Cluster:
    """A cluster that became ready, on fresh ports (see :func:`first_started`)."""

    def start(attempt: int) -> Cluster:
        ports = [_free_port() for _ in range(_NODES)]
        bus_ports = [_free_port() for _ in range(_NODES)]
        cluster = Cluster(binary, os.path.join(folder, str(attempt)), ports, bus_ports)
        os.mkdir(cluster.folder)  # a folder per try: no node config of a failed one is reused
        try:
            for port in ports:
                cluster.start(port)
            subprocess.run(
                [cli, "--cluster", "create", *[f"127.0.0.1:{port}" for port in ports],
                 "--cluster-replicas", "1", "--cluster-yes"],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60,
            )  # fmt: skip
            cluster.wait_ok()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    return first_started(start)


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[Cluster]:
    """The session's cluster (never damaged: failover tests take their own)."""
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture
def disposable_redis_cluster() -> Iterator[Cluster]:
    """A cluster of this test's own, to kill nodes in."""
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def redis_cluster_url(redis_cluster: Cluster) -> str:
    """The ``redis+cluster://`` URL of the session's cluster."""
    return redis_cluster.url
