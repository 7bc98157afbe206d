"""``storeroom serve`` as a process, and a load test on loopback.

The server is the real command (``storeroom --store ROOT serve --port N``) in a
child process; 100 concurrent clients browse (list, artifact, version, diff pages)
and download (whole and ranged) for 5 s, or 30 s with ``--soak``. It stops by
itself; every response must be the expected status, and the figures (requests,
requests per second, p50/p99 latency, and the server's CPU time per request,
which a busy machine does not distort) are printed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from .conftest import free_port

CLIENTS = 100
_PAGES = [
    ("/", None),
    ("/?sort=size&order=desc", None),
    ("/artifact?name=reports/q3.md", None),
    ("/version?name=reports/q3.md&v=v2", None),
    ("/version?name=data/visits.csv", None),
    ("/diff?name=reports/q3.md&a=v1&b=v3&mode=split", None),
    ("/api/artifacts?q=data/", None),
    ("/api/content?name=logs/big.txt", None),
    ("/api/content?name=logs/big.txt", {"Range": "bytes=1000-50999"}),
    ("/api/content?name=images/dot.png", None),
    ("/api/file?path=site/docs/guide.md", None),
]


@dataclass(frozen=True)
class Served:
    url: str
    pid: int

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server process has used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _command() -> list[str]:
    return [sys.executable, "-c", "from storeroom.cli import main; main()"]


@pytest.fixture(scope="module")
def served_process(store_root: Path) -> Iterator[Served]:
    port = free_port()
    env = {**os.environ, "STOREROOM_URL": str(store_root)}
    env.pop("STOREROOM_TOKEN", None)
    process = subprocess.Popen(
        [*_command(), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url + "/api/artifacts", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            output = process.stdout.read().decode() if process.stdout else ""
            process.kill()
            raise RuntimeError(f"storeroom serve did not start: {output}")
        time.sleep(0.1)
    try:
        yield Served(url, process.pid)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_cli_refuses_writes_without_a_token(store_root: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "STOREROOM_TOKEN"}
    done = subprocess.run(
        [*_command(), "--store", str(store_root), "serve", "--allow-write"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--allow-write needs a token" in done.stderr


def test_cli_serves_read_only_on_loopback(served_process: Served) -> None:
    listed = httpx.get(served_process.url + "/api/artifacts").json()
    assert "reports/q3.md" in [a["name"] for a in listed["artifacts"]]
    refused = httpx.put(served_process.url + "/api/content?name=x", content=b"x")
    assert refused.status_code == 405
    files = httpx.get(served_process.url + "/api/files").json()
    assert {e["path"] for e in files["entries"]} >= {"artifacts", "site"}


async def _load(url: str, seconds: float) -> tuple[list[float], list[str]]:
    latencies: list[float] = []
    errors: list[str] = []
    stop = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    # A generous timeout: on a shared, overloaded machine a response may wait long for CPU.
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as http:

        async def client(number: int) -> None:
            step = number
            while time.monotonic() < stop:
                path, headers = _PAGES[step % len(_PAGES)]
                step += 1
                started = time.perf_counter()
                try:
                    response = await http.get(path, headers=headers)
                    expected = 206 if headers else 200
                    if response.status_code != expected:
                        errors.append(f"{path}: {response.status_code}")
                except httpx.HTTPError as exc:
                    errors.append(f"{path}: {type(exc).__name__}")
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(client(n) for n in range(CLIENTS)))
    return latencies, errors


def test_load_100_clients(
    served_process: Served, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    seconds = 30.0 if request.config.getoption("--soak") else 5.0
    started, cpu = time.monotonic(), served_process.cpu_seconds()
    latencies, errors = asyncio.run(_load(served_process.url, seconds))
    elapsed = time.monotonic() - started
    cpu_ms = (served_process.cpu_seconds() - cpu) / len(latencies) * 1000
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    load = os.getloadavg()[0]
    with capsys.disabled():
        print(
            f"\nserve load: {CLIENTS} clients, {elapsed:.1f} s, {len(latencies)} requests, "
            f"{len(latencies) / elapsed:.0f} req/s, p50 {p50:.0f} ms, p99 {p99:.0f} ms, "
            f"{len(errors)} errors; server CPU {cpu_ms:.1f} ms/request (load average {load:.2f})"
        )
    assert errors == []
    assert len(latencies) >= CLIENTS
