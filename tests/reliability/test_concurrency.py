"""Many processes, one key: compare-and-swap and appends count every write exactly once.

Covered elsewhere, and not repeated here:

- artifact versions v1..v400 from 4 processes x 25 tasks x 4 versions on
  local, S3 and Azure, and 100 tasks in one process on memory:
  ``tests/artifacts/test_concurrency.py``;
- the compare-and-swap counter with 16 tasks in one process on every backend,
  and across 4 processes on local disk: ``tests/conformance/test_provider_conditional.py``.

Added here: the counter across processes on the object stores (S3, Azure),
and ``FileStore.append_text`` across processes on every backend that declares
compare-and-swap across processes (local, S3, Azure): every line lands once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import storeroom
from storeroom.filestore import FileStore
from tests.cloud.support import unique_prefix
from tests.conformance.workers import increment_worker, run_processes
from tests.reliability.conftest import Budget
from tests.reliability.workers import append_worker, line_of

PROCESSES = 4


def store_url(request: pytest.FixtureRequest, kind: str, tmp_path: Path) -> str:
    """A fresh store on ``kind``: a local folder, or a random prefix on an emulator."""
    if kind == "local":
        return str(tmp_path / "store")
    server = request.getfixturevalue(f"{kind}_server")
    url: str = server.url(unique_prefix("concurrency"))
    return url


def sizes(budget: Budget) -> tuple[int, int]:
    """(tasks per process, operations per task): 4 x 4 x 25 = 400 with ``--soak``."""
    return (4, 25) if budget.soak else (2, 10)


@pytest.mark.parametrize("kind", ["s3", "azure"])
def test_compare_and_swap_counter_across_processes(
    request: pytest.FixtureRequest, kind: str, tmp_path: Path, budget: Budget
) -> None:
    url = store_url(request, kind, tmp_path)
    tasks, times = sizes(budget)

    async def counter(write: bytes | None = None) -> bytes:
        async with storeroom.provider(url) as provider:
            if write is not None:
                await provider.put("counter", write)
            return await provider.read("counter")

    asyncio.run(counter(b"0"))
    lost = run_processes(increment_worker, PROCESSES, url, tasks, times)
    assert asyncio.run(counter()) == b"%d" % (PROCESSES * tasks * times), f"races lost: {lost}"


@pytest.mark.parametrize("kind", ["local", "s3", "azure"])
def test_appends_across_processes_all_land_once(
    request: pytest.FixtureRequest, kind: str, tmp_path: Path, budget: Budget
) -> None:
    url = store_url(request, kind, tmp_path)
    tasks, times = sizes(budget)
    failed = run_processes(append_worker, PROCESSES, url, tasks, times)
    assert failed == [0] * PROCESSES

    async def read() -> str:
        files = FileStore(storeroom.provider(url))
        async with files.provider:
            return await files.read_text("log.txt")

    lines = asyncio.run(read()).splitlines(keepends=True)
    expected = [
        line_of(p, t, n) for p in range(PROCESSES) for t in range(tasks) for n in range(times)
    ]
    assert sorted(lines) == sorted(expected), f"{len(lines)} lines, {len(expected)} appended"
