"""``copy`` and ``rename`` on every backend.

What the two share (missing source, ``overwrite=False``, metadata kept) is
tested once for both; what differs (the source stays or goes) separately.
"""

from __future__ import annotations

import pytest

from storeroom import AlreadyExists, NotFound, Provider
from tests.conformance.support import require

OPERATIONS = ["copy", "rename"]


async def move(provider: Provider, operation: str, src: str, dst: str, **kw: bool) -> None:
    """``provider.copy`` or ``provider.rename``."""
    await getattr(provider, operation)(src, dst, **kw)


async def test_copy(provider: Provider) -> None:
    await provider.put("src", b"source")
    await provider.copy("src", "deep/new/dst")
    assert await provider.read("deep/new/dst") == b"source"
    assert await provider.read("src") == b"source"
    assert await provider.list() == ["deep/new/dst", "src"]
    await provider.put("src", b"changed")
    assert await provider.read("deep/new/dst") == b"source", "a copy is not a link"


async def test_rename(provider: Provider) -> None:
    await provider.put("old/name", b"content")
    await provider.rename("old/name", "new/place/name")
    assert await provider.read("new/place/name") == b"content"
    assert not await provider.exists("old/name")
    assert await provider.list() == ["new/place/name"]
    with pytest.raises(NotFound):
        await provider.get("old/name")


@pytest.mark.parametrize("operation", OPERATIONS)
async def test_overwrite_is_the_default(provider: Provider, operation: str) -> None:
    await provider.put("a", b"from a")
    await provider.put("b", b"old b")
    before = await provider.head("b")
    await move(provider, operation, "a", "b")
    assert await provider.read("b") == b"from a"
    assert (await provider.head("b")).etag != before.etag
    assert await provider.list() == (["a", "b"] if operation == "copy" else ["b"])


@pytest.mark.parametrize("operation", OPERATIONS)
async def test_without_overwrite_an_existing_destination_is_refused(
    provider: Provider, operation: str
) -> None:
    await provider.put("a", b"from a")
    await provider.put("b", b"from b")
    with pytest.raises(AlreadyExists) as raised:
        await move(provider, operation, "a", "b", overwrite=False)
    assert isinstance(raised.value, FileExistsError)
    assert await provider.read("a") == b"from a"
    assert await provider.read("b") == b"from b"
    await move(provider, operation, "a", "c", overwrite=False)
    assert await provider.read("c") == b"from a"


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("overwrite", [True, False])
async def test_a_missing_source_is_not_found(
    provider: Provider, operation: str, overwrite: bool
) -> None:
    await provider.put("dst", b"destination")
    for dst in ("dst", "nowhere"):
        with pytest.raises(NotFound) as raised:
            await move(provider, operation, "missing", dst, overwrite=overwrite)
        assert isinstance(raised.value, FileNotFoundError)
    assert await provider.list() == ["dst"]
    assert await provider.read("dst") == b"destination"


async def test_copy_onto_itself_keeps_the_data(provider: Provider) -> None:
    await provider.put("same", b"data")
    await provider.copy("same", "same")
    assert await provider.read("same") == b"data"
    with pytest.raises(AlreadyExists):
        await provider.copy("same", "same", overwrite=False)
    assert await provider.read("same") == b"data"


@pytest.mark.parametrize("overwrite", [True, False])
async def test_rename_onto_itself_keeps_the_data(provider: Provider, overwrite: bool) -> None:
    await provider.put("same", b"data")
    await provider.rename("same", "same", overwrite=overwrite)
    assert await provider.read("same") == b"data"
    assert await provider.list() == ["same"]
    with pytest.raises(NotFound):
        await provider.rename("gone", "gone", overwrite=overwrite)


@pytest.mark.parametrize("operation", OPERATIONS)
async def test_content_type_and_metadata_are_kept(provider: Provider, operation: str) -> None:
    require(provider, "metadata")
    await provider.put("src", b"{}", content_type="application/json", metadata={"a": "1"})
    await move(provider, operation, "src", "dst")
    head = await provider.head("dst")
    assert head.content_type == "application/json"
    assert dict(head.metadata) == {"a": "1"}
