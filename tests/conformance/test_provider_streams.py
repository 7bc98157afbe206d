"""Byte ranges, ``stream`` and ``write_stream``, on every backend."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from storeroom import NotFound, Provider
from storeroom.providers.base import DEFAULT_CHUNK_SIZE

MIB = 1024 * 1024
DATA = bytes(range(256)) * 4  # 1024 bytes

Ranged = Callable[[str, int, "int | None"], Awaitable[bytes]]


@pytest.fixture(params=["read_range", "read_range_view"])
def read_range(request: pytest.FixtureRequest, provider: Provider) -> Ranged:
    """``read_range``, or ``read_range_view`` (checked to be a read-only view)."""
    if request.param == "read_range":
        return provider.read_range

    async def viewed(path: str, start: int, end: int | None) -> bytes:
        view = await provider.read_range_view(path, start, end)
        assert isinstance(view, memoryview)
        assert view.readonly
        return bytes(view)

    return viewed


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (0, None, DATA),
        (0, 10, DATA[:10]),
        (10, 20, DATA[10:20]),
        (1000, None, DATA[1000:]),
        (1000, 5000, DATA[1000:]),
        (0, 0, b""),
        (500, 500, b""),
        (1024, None, b""),
        (1024, 1024, b""),
        (2000, None, b""),
        (2000, 3000, b""),
        (1023, 1024, DATA[1023:]),
    ],
)
async def test_read_range(
    provider: Provider, read_range: Ranged, start: int, end: int | None, expected: bytes
) -> None:
    await provider.put("r", DATA)
    assert await read_range("r", start, end) == expected


async def test_read_range_of_an_empty_object(provider: Provider, read_range: Ranged) -> None:
    await provider.put("e", b"")
    assert await read_range("e", 0, None) == b""
    assert await read_range("e", 0, 10) == b""
    assert await read_range("e", 5, None) == b""


@pytest.mark.parametrize(("start", "end"), [(-1, None), (-1, 5), (5, 4), (10, 0), (0, -1)])
async def test_invalid_ranges_are_value_errors(
    provider: Provider, read_range: Ranged, start: int, end: int | None
) -> None:
    await provider.put("r", DATA)
    with pytest.raises(ValueError, match="range"):
        await read_range("r", start, end)


async def test_read_range_of_a_missing_key(provider: Provider, read_range: Ranged) -> None:
    with pytest.raises(NotFound):
        await read_range("missing", 0, 10)


async def collect(chunks: AsyncIterator[bytes], chunk_size: int) -> bytes:
    parts = [chunk async for chunk in chunks]
    assert all(len(part) <= chunk_size for part in parts)
    assert all(parts[:-1]), "no empty chunk before the last"
    return b"".join(parts)


async def test_stream_of_zero_bytes(provider: Provider) -> None:
    await provider.put("zero", b"")
    assert await collect(provider.stream("zero"), DEFAULT_CHUNK_SIZE) == b""
    assert await collect(provider.stream("zero", 7), 7) == b""


@pytest.mark.parametrize("chunk_size", [DEFAULT_CHUNK_SIZE, 256 * 1024, 1_000_003])
async def test_stream_of_several_mib(provider: Provider, chunk_size: int) -> None:
    data = os.urandom(3 * MIB + 123)
    await provider.put("big", data)
    assert await collect(provider.stream("big", chunk_size), chunk_size) == data


@pytest.mark.parametrize("chunk_size", [1, 7, 1024, 1025])
async def test_stream_small_chunks(provider: Provider, chunk_size: int) -> None:
    await provider.put("s", DATA)
    assert await collect(provider.stream("s", chunk_size), chunk_size) == DATA


async def test_stream_of_a_missing_key(provider: Provider) -> None:
    with pytest.raises(NotFound):
        await collect(provider.stream("missing"), DEFAULT_CHUNK_SIZE)


@pytest.mark.parametrize("chunk_size", [0, -1])
async def test_stream_chunk_size_must_be_positive(provider: Provider, chunk_size: int) -> None:
    await provider.put("s", DATA)
    with pytest.raises(ValueError, match="chunk_size"):
        await collect(provider.stream("s", chunk_size), 1)


async def test_write_stream_from_a_sync_iterable(provider: Provider) -> None:
    chunks = [b"abc", b"", b"def", bytes(1000)]
    meta = await provider.write_stream("ws/list", chunks)
    assert (meta.path, meta.size) == ("ws/list", 1006)
    assert await provider.read("ws/list") == b"".join(chunks)

    def generate() -> Iterator[bytes]:
        yield from (b"x" * n for n in range(10))

    await provider.write_stream("ws/gen", generate())
    assert await provider.read("ws/gen") == b"x" * 45


async def test_write_stream_from_an_async_iterable(provider: Provider) -> None:
    async def generate() -> AsyncIterator[bytes]:
        for n in range(5):
            yield bytes([n]) * MIB

    meta = await provider.write_stream("ws/async", generate())
    assert meta.size == 5 * MIB
    assert await provider.read("ws/async") == b"".join(bytes([n]) * MIB for n in range(5))
    assert (await provider.head("ws/async")).size == 5 * MIB


async def test_write_stream_of_nothing(provider: Provider) -> None:
    meta = await provider.write_stream("ws/none", [])
    assert meta.size == 0
    assert await provider.read("ws/none") == b""


async def test_write_stream_replaces_and_fails_whole(provider: Provider) -> None:
    await provider.put("ws/keep", b"old content")

    async def broken() -> AsyncIterator[bytes]:
        yield b"new"
        raise RuntimeError("source failed")

    with pytest.raises(RuntimeError, match="source failed"):
        await provider.write_stream("ws/keep", broken())
    assert await provider.read("ws/keep") == b"old content"
    with pytest.raises(RuntimeError, match="source failed"):
        await provider.write_stream("ws/never", broken())
    assert not await provider.exists("ws/never")
    assert await provider.list() == ["ws/keep"]
    await provider.write_stream("ws/keep", [b"new ", b"content"])
    assert await provider.read("ws/keep") == b"new content"
