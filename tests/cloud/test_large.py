"""Large objects: multipart write_stream, streamed reads and ranges around part boundaries.

Sizes 0, 5 MiB - 1, 5 MiB and 5 MiB + 1 run on S3 (moto), Azure (Azurite) and
GCS (gcp-storage-emulator); one 64 MiB object runs on S3. A failed multipart
upload leaves no upload behind.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import boto3  # type: ignore[import-untyped]
import pytest

import storeroom
from storeroom import NotFound, Provider
from tests.services.cloud import CloudServer

from .support import unique_prefix

MIB = 1024 * 1024
PART = 5 * MIB
SIZES = [0, PART - 1, PART, PART + 1]


def _pattern(size: int) -> Iterator[bytes]:
    """``size`` deterministic bytes in uneven chunks (never all in memory at once)."""
    block = hashlib.sha256(str(size).encode()).digest() * (MIB // 32 + 7)  # ~1 MiB + 224
    produced = 0
    while produced < size:
        chunk = block[: min(len(block), size - produced)]
        produced += len(chunk)
        yield chunk


def _digest(chunks: Iterator[bytes]) -> str:
    return hashlib.sha256(b"".join(chunks)).hexdigest()


def _open(request: pytest.FixtureRequest, server_fixture: str) -> Provider:
    server: CloudServer = request.getfixturevalue(server_fixture)
    # The smallest part size S3 allows, so the boundaries above are part boundaries.
    return storeroom.provider(server.url(unique_prefix("large")), part_size=str(PART))


async def _check_round_trip(provider: Provider, size: int) -> None:
    meta = await provider.write_stream("big.bin", _pattern(size), content_type="application/x-big")
    assert meta.size == size
    head = await provider.head("big.bin")
    assert (head.size, head.etag, head.content_type) == (size, meta.etag, "application/x-big")

    digest = hashlib.sha256()
    async for chunk in provider.stream("big.bin", chunk_size=MIB):
        assert 0 < len(chunk) <= MIB
        digest.update(chunk)
    assert digest.hexdigest() == _digest(_pattern(size))

    whole = b"".join(_pattern(size))
    for start, end in [(0, 10), (PART - 2, PART + 2), (max(size - 3, 0), size + 10), (size, None)]:
        assert await provider.read_range("big.bin", start, end) == whole[start:end]


@pytest.mark.parametrize("size", SIZES, ids=["0", "5MiB-1", "5MiB", "5MiB+1"])
@pytest.mark.parametrize("server_fixture", ["s3_server", "azure_server", "gcs_server"])
async def test_part_boundaries(
    request: pytest.FixtureRequest, server_fixture: str, size: int
) -> None:
    async with _open(request, server_fixture) as provider:
        await _check_round_trip(provider, size)


@pytest.mark.parametrize(("size", "parts"), [(PART - 1, None), (PART, 1), (PART + 1, 2)])
async def test_s3_uses_multipart_from_one_part_up(
    request: pytest.FixtureRequest, size: int, parts: int | None
) -> None:
    async with _open(request, "s3_server") as provider:
        meta = await provider.write_stream("m.bin", _pattern(size))
    # S3's etag of a multipart upload ends in "-<number of parts>".
    assert meta.etag is not None
    if parts is None:
        assert "-" not in meta.etag
    else:
        assert meta.etag.strip('"').endswith(f"-{parts}")


_MEMORY_PROBE = """
import asyncio, hashlib, json, sys, tracemalloc
import storeroom
from tests.cloud.test_large import MIB, _pattern

async def main(url: str, size: int) -> None:
    async with storeroom.provider(url) as provider:
        tracemalloc.start()
        meta = await provider.write_stream("huge.bin", _pattern(size))
        write_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        digest = hashlib.sha256()
        async for chunk in provider.stream("huge.bin", chunk_size=MIB):
            digest.update(chunk)
        read_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    print(json.dumps({"size": meta.size, "sha256": digest.hexdigest(),
                      "write_peak": write_peak, "read_peak": read_peak}))

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def test_64_mib_object_is_streamed_in_bounded_memory(s3_server: CloudServer) -> None:
    # The client runs in a subprocess: moto (in this process) would be traced too.
    size = 64 * MIB
    url = s3_server.url(unique_prefix("huge")) + f"&part_size={PART}"
    done = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, url, str(size)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["size"] == size
    assert report["sha256"] == _digest(_pattern(size))
    # Python-side memory stays near a few parts, far below the object's size.
    assert report["write_peak"] < 16 * MIB
    assert report["read_peak"] < 8 * MIB


async def test_64_mib_object_ranges(s3_server: CloudServer) -> None:
    size = 64 * MIB
    whole = b"".join(_pattern(size))
    async with storeroom.provider(s3_server.url(unique_prefix("huge"))) as provider:
        await provider.write_stream("huge.bin", _pattern(size))
        for start, end in [(0, MIB + 3), (size - MIB - 5, size + 5), (32 * MIB - 1, 32 * MIB + 1)]:
            assert await provider.read_range("huge.bin", start, end) == whole[start:end]


async def test_failed_multipart_upload_is_aborted(s3_server: CloudServer) -> None:
    prefix = unique_prefix("abort")
    client = boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )

    def open_uploads() -> list[str]:
        found = client.list_multipart_uploads(Bucket=s3_server.bucket, Prefix=prefix)
        return [upload["Key"] for upload in found.get("Uploads", [])]

    seen_during_upload: list[str] = []

    async def failing() -> AsyncIterator[bytes]:
        for chunk in _pattern(3 * PART):
            yield chunk
        seen_during_upload.extend(open_uploads())
        raise RuntimeError("the source broke")

    async with storeroom.provider(s3_server.url(prefix), part_size=str(PART)) as provider:
        with pytest.raises(RuntimeError, match="the source broke"):
            await provider.write_stream("broken.bin", failing())
        with pytest.raises(NotFound):
            await provider.head("broken.bin")

    assert seen_during_upload == [f"{prefix}/broken.bin"]  # a multipart upload was under way
    assert open_uploads() == []  # and it was aborted
