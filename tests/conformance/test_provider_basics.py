"""Round trips, read-after-write, ``head`` fields and the error types, on every backend."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from storeroom import NotFound, Provider, StorageError
from tests.conformance.support import require


async def test_put_get_delete_round_trip(provider: Provider) -> None:
    meta = await provider.put("a/b/c.txt", b"hello")
    assert (meta.path, meta.size) == ("a/b/c.txt", 5)
    got = await provider.get("a/b/c.txt")
    assert got.data == b"hello"
    assert (got.meta.path, got.meta.size, got.meta.etag) == ("a/b/c.txt", 5, meta.etag)
    assert await provider.read("a/b/c.txt") == b"hello"
    assert await provider.exists("a/b/c.txt")
    assert await provider.list() == ["a/b/c.txt"]
    await provider.delete("a/b/c.txt")
    assert not await provider.exists("a/b/c.txt")
    assert await provider.list() == []
    with pytest.raises(NotFound):
        await provider.get("a/b/c.txt")


async def test_seed_methods_round_trip(provider: Provider) -> None:
    await provider.write("seed.bin", bytes(range(256)))
    assert await provider.read("seed.bin") == bytes(range(256))
    assert await provider.exists("seed.bin")
    assert await provider.list("") == ["seed.bin"]
    await provider.makedirs("made/here")
    await provider.delete("seed.bin")
    assert not await provider.exists("seed.bin")


async def test_empty_object(provider: Provider) -> None:
    meta = await provider.put("empty", b"")
    assert meta.size == 0
    assert await provider.read("empty") == b""
    assert (await provider.head("empty")).size == 0
    assert await provider.list() == ["empty"]


async def test_read_after_write_and_list_after_write_are_never_stale(provider: Provider) -> None:
    for round_ in range(20):
        data = f"version {round_}".encode() * (round_ + 1)
        await provider.put("fresh/key", data)
        assert await provider.read("fresh/key") == data
        assert (await provider.head("fresh/key")).size == len(data)
        assert "fresh/key" in await provider.list("fresh")
        listing = await provider.list_dir("fresh")
        assert (listing.objects[0].path, listing.objects[0].size) == ("fresh/key", len(data))
        await provider.put(f"fresh/n{round_:02d}", b"x")
        assert f"fresh/n{round_:02d}" in await provider.list("fresh")
    for round_ in range(20):
        await provider.delete(f"fresh/n{round_:02d}")
        assert f"fresh/n{round_:02d}" not in await provider.list("fresh")
        assert not await provider.exists(f"fresh/n{round_:02d}")
    await provider.delete("fresh/key")
    assert await provider.list("fresh") == []
    assert (await provider.list_dir("fresh")).objects == ()


async def test_overwrite_replaces_the_content(provider: Provider) -> None:
    await provider.put("k", b"long first content")
    await provider.put("k", b"short")
    assert await provider.read("k") == b"short"
    assert (await provider.head("k")).size == 5


async def test_head_fields(provider: Provider) -> None:
    before = datetime.now(timezone.utc) - timedelta(minutes=5)
    put = await provider.put("h/x.bin", b"12345")
    head = await provider.head("h/x.bin")
    after = datetime.now(timezone.utc) + timedelta(minutes=5)
    assert head.path == "h/x.bin"
    assert head.size == 5
    assert head.etag is not None
    assert head.etag == put.etag
    assert head.modified.tzinfo is not None
    assert head.modified.utcoffset() is not None
    assert before <= head.modified <= after
    assert put.modified.tzinfo is not None


async def test_etag_changes_on_every_write_of_new_content(provider: Provider) -> None:
    etags = set()
    for round_ in range(50):
        # The same size every time: an etag made of size and a coarse mtime would repeat.
        meta = await provider.put("etag", f"{round_:04d}".encode())
        assert meta.etag is not None
        assert meta.etag == (await provider.head("etag")).etag
        etags.add(meta.etag)
    assert len(etags) == 50


async def test_content_type_and_metadata_are_kept(provider: Provider) -> None:
    require(provider, "metadata")
    meta = await provider.put(
        "typed.json", b"{}", content_type="application/json", metadata={"owner": "ana"}
    )
    assert meta.content_type == "application/json"
    head = await provider.head("typed.json")
    assert head.content_type == "application/json"
    assert dict(head.metadata) == {"owner": "ana"}
    got = await provider.get("typed.json")
    assert got.meta.content_type == "application/json"
    assert dict(got.meta.metadata) == {"owner": "ana"}
    stream_meta = await provider.write_stream(
        "typed.txt", [b"a", b"b"], content_type="text/plain", metadata={"k": "v"}
    )
    assert stream_meta.size == 2
    head = await provider.head("typed.txt")
    assert head.content_type == "text/plain"
    assert dict(head.metadata) == {"k": "v"}


async def test_metadata_is_replaced_not_merged_on_overwrite(provider: Provider) -> None:
    require(provider, "metadata")
    await provider.put("m", b"1", content_type="text/plain", metadata={"a": "1"})
    await provider.put("m", b"2")
    head = await provider.head("m")
    assert dict(head.metadata) == {}


async def test_missing_key_is_not_found_and_file_not_found(provider: Provider) -> None:
    await provider.put("present/x", b"x")
    for call in (
        provider.get("absent"),
        provider.read("absent"),
        provider.head("absent"),
        provider.read_range("absent", 0, 1),
        provider.get("present/absent"),
        provider.get("present/x/under-an-object"),
        provider.head("present/x/under-an-object"),
    ):
        with pytest.raises(NotFound) as raised:
            await call
        assert isinstance(raised.value, FileNotFoundError)
        assert isinstance(raised.value, StorageError)
        assert raised.value.code == "not_found"
    assert not await provider.exists("absent")
    assert not await provider.exists("present/x/under-an-object")


async def test_delete_of_a_missing_key_is_fine(provider: Provider) -> None:
    await provider.delete("never/was")
    await provider.put("once", b"1")
    await provider.delete("once")
    await provider.delete("once")
    assert await provider.list() == []


async def test_a_folder_is_not_an_object(provider: Provider) -> None:
    await provider.put("dir/inner.txt", b"inner")
    await provider.makedirs("made")
    for folder in ("dir", "made"):
        assert not await provider.exists(folder)
        with pytest.raises(NotFound):
            await provider.get(folder)
        with pytest.raises(NotFound):
            await provider.head(folder)
        # Deleting a key that names a folder deletes no object: it is a missing key.
        await provider.delete(folder)
    assert await provider.read("dir/inner.txt") == b"inner"


async def test_only_bytes_are_stored(provider: Provider, tmp_path: Path) -> None:
    """A ``str`` is never read as a file name (obstore would upload that file)."""
    secret = tmp_path / "secret.txt"
    secret.write_text("not to be uploaded")
    await provider.put("k", b"kept")
    for data in (str(secret), secret, "plain text", 42, None):
        with pytest.raises(TypeError, match="bytes"):
            await provider.put("k", data)  # type: ignore[arg-type]
    assert await provider.read("k") == b"kept"
    await provider.put("k", bytearray(b"a") + memoryview(b"b"))  # type: ignore[arg-type]
    assert await provider.read("k") == b"ab"


async def test_binary_content_is_kept_exactly(provider: Provider) -> None:
    data = bytes(range(256)) * 64 + b"\r\n\x00\r"
    await provider.put("bin", data)
    assert await provider.read("bin") == data


async def test_context_manager_and_aclose(provider: Provider) -> None:
    async with provider as entered:
        assert entered is provider


async def test_concurrent_writes_of_large_objects_land_whole(provider: Provider) -> None:
    # Large enough that a local provider writes off the event loop, in threads.
    size = 300 * 1024
    blobs = [bytes([n]) * size for n in range(32)]
    await asyncio.gather(*(provider.put(f"large/{n}", blob) for n, blob in enumerate(blobs)))
    await asyncio.gather(*(provider.put("large/same", blob) for blob in blobs))
    for n, blob in enumerate(blobs):
        assert await provider.read(f"large/{n}") == blob
    assert await provider.read("large/same") in blobs
    assert len(await provider.list("large")) == 33
