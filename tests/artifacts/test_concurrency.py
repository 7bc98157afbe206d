"""Many writers, one artifact: versions v1..vN exactly, each verifying by hash.

4 processes x 25 tasks x 4 versions on local disk, S3 (moto) and Azure
(Azurite); 100 tasks x 4 versions in one process on memory.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest

import storeroom
from storeroom.artifactstore import ArtifactStore

from .conftest import backend_url
from .writer import ARTIFACT, POOL, content_of, write_versions

PROCESSES, TASKS, VERSIONS = 4, 25, 4
#: Tasks per process on an emulator, which serves every request of 100 racing
#: writers from one Python thread: 4 x 10 x 4 = 160 versions (the full 400 with --soak).
REMOTE_TASKS = 10
_ROOT = Path(__file__).resolve().parents[2]


async def check_versions(store: ArtifactStore, writers: set[str]) -> None:
    """Versions are exactly v1..vN, one per writer, each read back and checked."""
    total = len(writers)
    assert await store.get_artifact_versions(ARTIFACT) == [f"v{n}" for n in range(1, total + 1)]
    semaphore = asyncio.Semaphore(16)

    async def check(number: int) -> str:
        async with semaphore:
            version = await store.get_version(ARTIFACT, f"v{number}")
            text = await store.get_artifact(ARTIFACT, f"v{number}")  # checks the sha256
        writer = version.metadata["writer"]
        assert text == content_of(writer)
        assert version.metadata["sha256"] == version.sha256
        return str(writer)

    seen = await asyncio.gather(*(check(n) for n in range(1, total + 1)))
    assert sorted(seen) == sorted(writers)
    (entry,) = await store.list_artifacts()
    assert (entry["version"], entry["versions"]) == (f"v{total}", total)


def _all_writers(processes: int, tasks: int, versions: int) -> set[str]:
    return {
        f"{p}-{t}-{i}" for p in range(processes) for t in range(tasks) for i in range(versions)
    }


async def start_writers(
    url: str, processes: int, tasks: int, versions: int, *mode: str
) -> list[asyncio.subprocess.Process]:
    """Start writer processes that begin writing together, two seconds from now."""
    start_at = time.time() + 2.0
    env = {**os.environ, "PYTHONPATH": str(_ROOT)}
    return [
        await asyncio.create_subprocess_exec(
            *[sys.executable, "-m", "tests.artifacts.writer", url, str(p)],
            *[str(tasks), str(versions), str(start_at), *mode],
            cwd=_ROOT,
            env=env,
            stderr=asyncio.subprocess.PIPE,
        )
        for p in range(processes)
    ]


async def wait_for(workers: list[asyncio.subprocess.Process]) -> None:
    """Wait for the writers; each must exit 0. None outlives the test."""
    try:
        for worker in workers:
            _, errors = await asyncio.wait_for(worker.communicate(), timeout=120)
            assert worker.returncode == 0, errors.decode()
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()


@pytest.mark.parametrize("kind", ["local", "s3", "azure"])
async def test_processes_allocate_every_number_once(
    request: pytest.FixtureRequest, kind: str, tmp_path: Path
) -> None:
    url = backend_url(request, kind, tmp_path)
    soak = request.config.getoption("--soak")
    tasks = TASKS if kind == "local" or soak else REMOTE_TASKS
    await wait_for(await start_writers(url, PROCESSES, tasks, VERSIONS))
    async with storeroom.artifacts(url) as store:
        await check_versions(store, _all_writers(PROCESSES, tasks, VERSIONS))


async def test_tasks_allocate_every_number_once_in_memory() -> None:
    store = storeroom.artifacts("memory://concurrency")
    assert await write_versions(store, 0, 100, VERSIONS) == 0
    await check_versions(store, _all_writers(1, 100, VERSIONS))


@pytest.mark.parametrize("kind", ["local", "s3"])
async def test_gc_never_takes_a_blob_from_a_concurrent_store(
    request: pytest.FixtureRequest, kind: str, tmp_path: Path
) -> None:
    """Deduplicating stores and deletes in 2 processes while gc runs in a loop."""
    url = backend_url(request, kind, tmp_path)
    workers = await start_writers(url, 2, 6, 12, "churn")
    store = ArtifactStore(storeroom.provider(url), gc_grace=0, owns_provider=True)
    runs = 0
    while any(worker.returncode is None for worker in workers):
        await store.gc()
        runs += 1
        await asyncio.sleep(0.01)
    await wait_for(workers)
    await store.gc()
    for entry in await store.list_artifacts():
        for version in await store.get_artifact_versions(entry["name"]):
            assert await store.get_artifact(entry["name"], version) in POOL
        assert (await store.delete_artifact(entry["name"])).success
    assert runs >= 2  # gc ran while the writers ran
    assert (await store.gc()).blobs_deleted > 0
    assert await store.provider.list("blobs") == []
    await store.aclose()
