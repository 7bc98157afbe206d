"""Writer processes for the concurrency tests.

``python -m tests.artifacts.writer URL PROCESS TASKS VERSIONS START_AT``: many
tasks storing versions of one artifact; every version's content names its
writer, and its metadata repeats the name and the content's sha256, so the
test can check each version end to end.

``python -m tests.artifacts.writer URL PROCESS TASKS VERSIONS START_AT churn``:
tasks storing contents from a small pool (so most stores deduplicate) and
deleting versions, with ``gc_grace=0``, while the test runs ``gc`` in a loop.

Exits 1 if any store failed.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
import time

import storeroom
from storeroom.artifactstore import ArtifactStore

ARTIFACT = "shared/report.txt"


def content_of(writer: str) -> str:
    """The content a writer stores: distinct per writer."""
    return f"written by {writer}\n" * 8


async def write_versions(store: ArtifactStore, process: int, tasks: int, versions: int) -> int:
    """Store ``tasks`` x ``versions`` versions concurrently; return the number of failures."""

    async def task(number: int) -> int:
        failures = 0
        for index in range(versions):
            writer = f"{process}-{number}-{index}"
            content = content_of(writer)
            metadata = {"writer": writer, "sha256": hashlib.sha256(content.encode()).hexdigest()}
            result = await store.store_artifact(ARTIFACT, content, "text/plain", metadata)
            if not result.success:
                print(f"{writer}: {result.error} ({result.metadata})", file=sys.stderr)
                failures += 1
        return failures

    return sum(await asyncio.gather(*(task(n) for n in range(tasks))))


async def churn(store: ArtifactStore, process: int, tasks: int, versions: int) -> int:
    """Store pooled contents and delete versions; return the number of failed stores."""

    async def task(number: int) -> int:
        failures = 0
        for index in range(versions):
            name = f"churn/{(number + index) % 3}"
            content = POOL[(process + number * 3 + index) % len(POOL)]
            result = await store.store_artifact(name, content)
            failures += not result.success
            if index % 4 and result.data:  # most versions go again at once
                await store.delete_artifact(name, result.data["version"])
        return failures

    return sum(await asyncio.gather(*(task(n) for n in range(tasks))))


#: The few contents the churn writers share: above the default ``inline_limit``, so blobs.
POOL = [f"pooled content {n}\n" * 320 for n in range(8)]


async def main(
    url: str, process: int, tasks: int, versions: int, start_at: float, mode: str
) -> int:
    async with (  # the writer opened the provider, so it closes it (the store does not)
        storeroom.provider(url) as provider,
        ArtifactStore(provider, gc_grace=0 if mode == "churn" else 3600) as store,
    ):
        await asyncio.sleep(max(0.0, start_at - time.time()))
        if mode == "churn":
            return await churn(store, process, tasks, versions)
        return await write_versions(store, process, tasks, versions)


if __name__ == "__main__":
    url, process, tasks, versions, start_at = sys.argv[1:6]
    mode = sys.argv[6] if len(sys.argv) > 6 else "versions"
    failed = asyncio.run(
        main(url, int(process), int(tasks), int(versions), float(start_at), mode)
    )
    sys.exit(1 if failed else 0)
