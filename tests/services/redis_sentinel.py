"""Pytest plugin: a Redis primary, one replica and three sentinels for the session.

``redis_sentinel`` starts them on free loopback ports with small timeouts
(``down-after-milliseconds 400``, ``failover-timeout 2000``), so that a
killed primary is replaced in about two seconds, and waits until every
sentinel knows the primary of service ``sr`` and its replica. Everything is
stopped and removed at the end. Without ``redis-server`` the tests are
skipped saying why (failed under ``CI=true``); nothing is installed.

:class:`SentinelSetup` can kill the current primary and start it again (the
sentinels then make it a replica of the new one).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.services.cloud import _free_port, _stop
from tests.services.redis import _start_server, first_started, require_binary
from tests.services.redis_cluster import ask

__all__ = [
    "SERVICE",
    "SentinelSetup",
    "disposable_redis_sentinel",
    "redis_sentinel",
    "redis_sentinel_url",
    "running_sentinels",
]

SERVICE = "sr"
_READY_TIMEOUT = 20.0


@dataclass
class SentinelSetup:
    """The running primary, replica and sentinels."""

    binary: str
    folder: str
    data_ports: list[int]
    sentinel_ports: list[int]
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{SERVICE}"

    def start_data(self, port: int, replica_of: int | None = None) -> None:
        extra = ("--replicaof", "127.0.0.1", str(replica_of)) if replica_of else ()
        self.processes[port] = _start_server(self.binary, port, self.folder, *extra)

    def start_sentinel(self, port: int, primary: int) -> None:
        config = Path(self.folder) / f"sentinel-{port}.conf"
        config.write_text(
            f"sentinel monitor {SERVICE} 127.0.0.1 {primary} 2\n"
            f"sentinel down-after-milliseconds {SERVICE} 400\n"
            f"sentinel failover-timeout {SERVICE} 2000\n"
            f"sentinel parallel-syncs {SERVICE} 1\n"
        )
        self.processes[port] = _start_server(
            self.binary, port, self.folder, "--sentinel", config=str(config)
        )

    def primary(self) -> int | None:
        """The port the sentinels name as primary now (``None`` if they do not agree)."""
        answers = {ask(port, "SENTINEL", "get-master-addr-by-name", SERVICE)
                   for port in self.sentinel_ports if port in self.processes}
        ports = {_last_number(answer) for answer in answers}
        return ports.pop() if len(ports) == 1 else None

    def kill(self, port: int) -> None:
        process = self.processes.pop(port)
        process.kill()
        process.wait()

    def wait_ready(self, primary: int, timeout: float = _READY_TIMEOUT) -> None:
        """Until every sentinel names ``primary`` and sees one replica and the other sentinels."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            infos = [ask(port, "SENTINEL", "MASTER", SERVICE) for port in self.sentinel_ports]
            if self.primary() == primary and all(
                "num-slaves\r\n$1\r\n1\r\n" in info
                and "num-other-sentinels\r\n$1\r\n2\r\n" in info
                for info in infos
            ):
                return
            time.sleep(0.1)
        raise RuntimeError(f"the sentinels did not agree on the primary in {timeout:g} s")

    def stop(self) -> None:
        for process in self.processes.values():
            _stop(process)
        self.processes.clear()


def _last_number(reply: str) -> int | None:
    numbers = [line for line in reply.split("\r\n") if line.isdigit()]
    return int(numbers[-1]) if numbers else None


@contextmanager
def running_sentinels() -> Iterator[SentinelSetup]:
    """A primary, a replica and three sentinels on loopback, stopped after."""
    binary = require_binary("redis-server", "Sentinel tests need it: ")
    with tempfile.TemporaryDirectory(prefix="sr-redis-sentinel-") as folder:

        def start(attempt: int) -> SentinelSetup:
            setup = SentinelSetup(
                binary, os.path.join(folder, str(attempt)),
                [_free_port() for _ in range(2)], [_free_port() for _ in range(3)],
            )  # fmt: skip
            os.mkdir(setup.folder)
            try:
                primary, replica = setup.data_ports
                setup.start_data(primary)
                setup.start_data(replica, replica_of=primary)
                for port in setup.sentinel_ports:
                    setup.start_sentinel(port, primary)
                setup.wait_ready(primary)
            except BaseException:
                setup.stop()
                raise
            return setup

        setup = first_started(start)
        try:
            yield setup
        finally:
            setup.stop()


@pytest.fixture(scope="session")
def redis_sentinel() -> Iterator[SentinelSetup]:
    """The session's Sentinel setup (never damaged: failover tests take their own)."""
    with running_sentinels() as setup:
        yield setup


@pytest.fixture
def disposable_redis_sentinel() -> Iterator[SentinelSetup]:
    """A Sentinel setup of this test's own, to kill the primary of."""
    with running_sentinels() as setup:
        yield setup


@pytest.fixture(scope="session")
def redis_sentinel_url(redis_sentinel: SentinelSetup) -> str:
    """The ``redis+sentinel://`` URL of the session's sentinels, service ``sr``."""
    return redis_sentinel.url
