"""The crash test's writer: overwrites a 1 MiB object in a loop until killed.

Run as ``python -m tests.reliability.writer ROOT START DURABLE ARTIFACTS``
(DURABLE and ARTIFACTS are ``0`` or ``1``). It
prints ``ready`` once the store is open, then one line per acknowledged write,
flushed as soon as the write returned:

- ``obj SEQ SHA256`` after ``OBJECT_KEY`` holds payload ``SEQ`` (even numbers
  by ``put``; odd ones by ``write_stream`` from a slow source, 64 KiB chunks a
  millisecond apart, so that many kills land while a temp file is half written);
- ``art VERSION SEQ SHA256`` after ``ArtifactStore.store_artifact`` stored
  payload ``SEQ`` (small) as ``VERSION`` of ``ARTIFACT`` (when ARTIFACTS is 1).

The parent SIGKILLs it at a random moment and checks what survived.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

from storeroom.artifactstore import ArtifactStore
from storeroom.providers.local import LocalProvider
from tests.reliability.payloads import digest, payload

OBJECT_KEY = "big/object.bin"
ARTIFACT = "reports/daily"
ARTIFACT_SIZE = 4096
_CHUNK = 64 * 1024


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def _slow_chunks(data: bytes) -> AsyncIterator[bytes]:
    for at in range(0, len(data), _CHUNK):
        yield data[at : at + _CHUNK]
        await asyncio.sleep(0.001)


async def _store_artifact(store: ArtifactStore, seq: int) -> None:
    data = payload(seq, ARTIFACT_SIZE)
    result = await store.store_artifact(ARTIFACT, data, content_type="application/octet-stream")
    if not result.success or result.data is None:
        raise RuntimeError(f"store_artifact failed: {result.error}")
    _say(f"art {result.data['version']} {seq} {digest(data)}")


async def main(root: str, start: int, durable: bool, artifacts: bool) -> None:
    """Write until killed."""
    provider = LocalProvider(root, durable=durable)
    store = ArtifactStore(provider)
    _say("ready")
    seq = start
    while True:
        data = payload(seq)
        if seq % 2 == 0:
            await provider.put(OBJECT_KEY, data)
        else:
            await provider.write_stream(OBJECT_KEY, _slow_chunks(data))
        _say(f"obj {seq} {digest(data)}")
        if artifacts:
            await _store_artifact(store, seq)
        seq += 1


if __name__ == "__main__":
    root, start, durable, artifacts = sys.argv[1:5]
    asyncio.run(main(root, int(start), durable == "1", artifacts == "1"))
