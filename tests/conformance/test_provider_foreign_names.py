"""Reading what others wrote (issue 10, item 3), on every backend.

Names that storeroom refuses to *create* (``draft.``, ``con.txt``, NFD forms)
but that other tools write must be listed, read, copied and deleted. Names
that cannot be addressed safely (``../x``, ``a//b``) never break a listing:
``list_dir`` reports them in ``Listing.skipped``, ``scan`` yields them as
``SkippedKey``, ``iter`` hands them to its ``skipped`` list, and the counts of
what is listed stay true.

"Another tool" writes through the backend's own put hook, below the key rules
(for ``CachedProvider``, the hook of the provider it wraps); a backend that
cannot hold a name at all skips that case and says so.
"""

from __future__ import annotations

import asyncio
import urllib.error

import pytest

from storeroom import InvalidPath, Listing, ObjectMeta, Provider, SkippedKey, StorageError, paths
from storeroom.providers.cached import CachedProvider
from storeroom.providers.object.store import ObjectStoreProvider
from tests.services.cloud import raw_put

FOREIGN = ("con.txt", "draft.", "e\u0301t\u00e9.md", "folder./NUL", "trailing ")
UNSAFE = ("../escape", "a//b", "x/./y")


async def write_as_another_tool(provider: Provider, key: str, data: bytes) -> None:
    """Store ``data`` at ``key`` below storeroom's name rules (skip if the backend can't).

    On object stores, through the server's own REST API: obstore cannot name
    ``../x`` or ``a//b`` at all, so another tool is the only way they get there.
    """
    inner = provider.provider if isinstance(provider, CachedProvider) else provider
    if isinstance(inner, ObjectStoreProvider) and paths.address_problem(key):
        try:
            await asyncio.to_thread(raw_put, inner, key, data)
        except urllib.error.HTTPError as exc:  # gcp-storage-emulator keeps a file tree
            pytest.skip(f"the emulator behind {type(inner).__name__} cannot hold {key!r}: {exc}")
        return
    try:
        await inner._put(key, data, "overwrite", None, None)
    except (StorageError, ValueError) as exc:
        pytest.skip(f"{type(inner).__name__} cannot hold the name {key!r}: {exc}")


async def test_foreign_names_are_listed_read_copied_and_deleted(provider: Provider) -> None:
    for n, name in enumerate(FOREIGN):
        await write_as_another_tool(provider, name, bytes([n]) * 2)
    assert await provider.list() == sorted(FOREIGN)
    listing = await provider.list_dir("")
    assert [m.path for m in listing.objects] == sorted(n for n in FOREIGN if "/" not in n)
    assert listing.folders == ("folder./",)
    assert listing.skipped == ()
    for n, name in enumerate(FOREIGN):
        assert await provider.read(name) == bytes([n]) * 2
        assert await provider.exists(name)
        await provider.copy(name, f"copies/{n}")
        assert await provider.read(f"copies/{n}") == bytes([n]) * 2
        with pytest.raises(InvalidPath):  # storeroom still never creates such a name
            await provider.copy(f"copies/{n}", name + "/" + name)
        await provider.delete(name)
        assert not await provider.exists(name)
    assert await provider.list() == [f"copies/{n}" for n in range(len(FOREIGN))]


async def test_unsafe_names_are_skipped_and_reported_never_fatal(provider: Provider) -> None:
    await provider.put("ok.txt", b"ok")
    for name in UNSAFE:
        await write_as_another_tool(provider, name, b"x")
    skipped: list[SkippedKey] = []
    found = [meta.path async for meta in provider.iter("", skipped=skipped)]
    assert found == ["ok.txt"]
    assert sorted(item.path for item in skipped) == sorted(UNSAFE)
    assert all(item.reason for item in skipped)
    scanned = [item async for item in provider.scan("")]
    assert [i.path for i in scanned if isinstance(i, ObjectMeta)] == ["ok.txt"]
    assert sorted(i.path for i in scanned if isinstance(i, SkippedKey)) == sorted(UNSAFE)
    top = await provider.list_dir("")
    assert isinstance(top, Listing)
    assert [m.path for m in top.objects] == ["ok.txt"]
    assert [s.path for s in top.skipped] == ["../"]
    assert top.folders == ("a/", "x/")
    assert [s.path for s in (await provider.list_dir("a")).skipped] == ["a//"]
    assert [s.path for s in (await provider.list_dir("x")).skipped] == ["x/./"]
    assert await provider.list() == ["ok.txt"]
