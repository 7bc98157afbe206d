"""Streamed reads of versions (``ArtifactStore.iter_content``) and the download rules
(ranges, Content-Disposition) the server builds on."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from storeroom.artifactstore import ArtifactStore
from storeroom.artifactstore.layout import blob_key, trash_key
from storeroom.errors import IntegrityError
from storeroom.providers.local.provider import LocalProvider
from storeroom.serve.content import (
    ByteRange,
    RangeNotSatisfiable,
    _media_type,
    content_disposition,
    parse_range,
)


async def _chunks(store: ArtifactStore, name: str, *args: int, size: int = 1000) -> list[bytes]:
    version = await store.get_version(name)
    return [c async for c in store.iter_content(version, *args, chunk_size=size)]


async def test_iter_content_whole_ranges_inline_and_blob(tmp_path: Path) -> None:
    store = ArtifactStore(LocalProvider(str(tmp_path)), inline_limit=100)
    data = os.urandom(5500)
    try:
        await store.store_artifact("blob.bin", data)
        await store.store_artifact("small.txt", "hello world")
        assert b"".join(await _chunks(store, "blob.bin")) == data
        assert [len(c) for c in await _chunks(store, "blob.bin")] == [1000] * 5 + [500]
        assert b"".join(await _chunks(store, "blob.bin", 1234, 4321)) == data[1234:4321]
        assert b"".join(await _chunks(store, "blob.bin", 5000, 9999)) == data[5000:]
        assert b"".join(await _chunks(store, "small.txt", 6)) == b"world"
        assert b"".join(await _chunks(store, "small.txt", 0, 5, size=2)) == b"hello"
        with pytest.raises(ValueError, match="range"):
            await _chunks(store, "blob.bin", 10, 5)
    finally:
        await store.aclose()


async def test_corrupt_blob_never_yields_its_last_chunk(tmp_path: Path) -> None:
    store = ArtifactStore(LocalProvider(str(tmp_path)), inline_limit=0)
    data = b"a" * 3000
    try:
        result = await store.store_artifact("x.txt", data)
        sha = (result.data or {})["sha256"]
        (tmp_path / blob_key(sha)).write_bytes(b"a" * 2999 + b"b")  # same size, wrong bytes
        version = await store.get_version("x.txt")
        received: list[bytes] = []

        async def consume() -> None:
            async for chunk in store.iter_content(version, chunk_size=1000):
                received.append(chunk)

        with pytest.raises(IntegrityError, match="sha256"):
            await consume()
        assert len(b"".join(received)) == 2000  # the last chunk was held back
        (tmp_path / blob_key(sha)).write_bytes(b"a" * 10)  # truncated
        with pytest.raises(IntegrityError):
            await _chunks(store, "x.txt")
    finally:
        await store.aclose()


async def test_blob_set_aside_by_gc_is_read_from_the_trash(tmp_path: Path) -> None:
    store = ArtifactStore(LocalProvider(str(tmp_path)), inline_limit=0)
    try:
        result = await store.store_artifact("x.txt", "content " * 100)
        sha = (result.data or {})["sha256"]
        await store.provider.rename(blob_key(sha), trash_key(sha))
        assert b"".join(await _chunks(store, "x.txt")) == b"content " * 100
        await store.provider.delete(trash_key(sha))
        with pytest.raises(IntegrityError, match="missing"):
            await _chunks(store, "x.txt")
    finally:
        await store.aclose()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-9", ByteRange(0, 10, 100)),
        ("bytes=90-", ByteRange(90, 100, 100)),
        ("bytes=90-500", ByteRange(90, 100, 100)),
        ("bytes=-10", ByteRange(90, 100, 100)),
        ("bytes=-500", ByteRange(0, 100, 100)),
        ("bytes=5-2", None),  # invalid: ignored
        ("bytes=0-1,5-6", None),  # several: served whole
        ("items=0-1", None),
        ("bytes=-", None),
        ("bytes=" + "9" * 5000 + "-", None),  # no size: ignored, not a 400
    ],
)
def test_parse_range(header: str | None, expected: ByteRange | None) -> None:
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=-0", "bytes=200-300"])
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 100)


@pytest.mark.parametrize("header", ["bytes=-5", "bytes=0-", "bytes=0-0"])
def test_no_range_of_an_empty_version_is_satisfiable(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 0)


@pytest.mark.parametrize(
    ("stored", "served"),
    [
        ("text/markdown; charset=utf-8", "text/markdown; charset=utf-8"),
        ("text/plain; name=\u2603", "text/plain"),  # (stored by an older storeroom)
        ("text/plain; a=\x0b", "text/plain"),
        ("text/plain\r\nX-Injected: 1", "application/octet-stream"),
        ("not a type", "application/octet-stream"),
    ],
)
def test_a_download_is_served_with_a_type_a_header_can_carry(stored: str, served: str) -> None:
    assert _media_type(stored) == served


@pytest.mark.parametrize(
    ("name", "ascii_name"),
    [
        ("reports/q3.md", "q3.md"),
        ('a/"; filename=evil.exe', "__ filename_evil.exe"),
        ("a/r\u00e9sum\u00e9\r\nX-Injected: 1.pdf", "r_sum___X-Injected_ 1.pdf"),
        ("x/\u6587\u4ef6", "__"),
    ],
)
def test_content_disposition_cannot_be_broken(name: str, ascii_name: str) -> None:
    header = content_disposition(name)
    assert header.startswith(f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''")
    assert header.isascii()
    assert "\r" not in header
    assert "\n" not in header
    assert header.count('"') == 2


async def test_a_download_stopped_early_leaves_no_task(tmp_path: Path) -> None:
    store = ArtifactStore(LocalProvider(str(tmp_path)), inline_limit=0)
    try:
        await store.store_artifact("x.bin", os.urandom(5000))
        version = await store.get_version("x.bin")
        before = asyncio.all_tasks()
        chunks = store.iter_content(version, chunk_size=1000)
        assert len(await anext(chunks)) == 1000
        await chunks.aclose()  # type: ignore[attr-defined]
        await asyncio.sleep(0.05)
        assert asyncio.all_tasks() == before
    finally:
        await store.aclose()
