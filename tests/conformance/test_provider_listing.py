"""Listings: recursive ``list``/``iter``, one-level ``list_dir``, ``is_dir`` and ``makedirs``."""

from __future__ import annotations

import asyncio

from storeroom import IfMatch, Listing, Provider
from storeroom.providers.base import LIST_TURN
from tests.conformance.conftest import Backend
from tests.conformance.support import require

NESTED = ("top.txt", "dx", "d/a", "d/b", "d/e/f", "d/e/g/h", "dd/z")


async def put_all(provider: Provider, keys: tuple[str, ...]) -> None:
    for key in keys:
        await provider.put(key, key.encode())


async def test_list_is_recursive_sorted_full_keys(provider: Provider) -> None:
    await put_all(provider, NESTED)
    assert await provider.list() == sorted(NESTED)
    assert await provider.list("d") == ["d/a", "d/b", "d/e/f", "d/e/g/h"]
    assert await provider.list("d/") == ["d/a", "d/b", "d/e/f", "d/e/g/h"]
    assert await provider.list("d/e") == ["d/e/f", "d/e/g/h"]
    assert await provider.list("d/e/g/") == ["d/e/g/h"]
    assert await provider.list("missing") == []
    assert await provider.list("top.txt") == []


async def test_a_prefix_is_a_folder_not_a_string_prefix(provider: Provider) -> None:
    await put_all(provider, ("a/b/c", "a/bc", "a/b2/c", "ab"))
    assert await provider.list("a/b") == ["a/b/c"]
    assert await provider.list("a") == ["a/b/c", "a/b2/c", "a/bc"]
    listing = await provider.list_dir("a/b")
    assert [m.path for m in listing.objects] == ["a/b/c"]
    assert listing.folders == ()


async def test_sort_order_is_by_full_key_not_by_folder(provider: Provider) -> None:
    # "-" and "." sort before "/", "0" after it: a folder walk sorted per level gets this wrong.
    keys = ("d/a", "d-x", "d.y", "d0", "d/e/f", "d/e-g")
    await put_all(provider, keys)
    assert await provider.list() == sorted(keys)
    assert [meta.path async for meta in provider.iter("")] == sorted(keys)
    assert await provider.list("d") == ["d/a", "d/e-g", "d/e/f"]


async def test_iter_yields_metadata_sorted(provider: Provider) -> None:
    await put_all(provider, NESTED)
    metas = [meta async for meta in provider.iter("d")]
    assert [m.path for m in metas] == ["d/a", "d/b", "d/e/f", "d/e/g/h"]
    assert [m.size for m in metas] == [len(m.path) for m in metas]
    assert all(m.modified.tzinfo is not None for m in metas)


async def test_list_dir_is_one_level_with_nested_folders(provider: Provider) -> None:
    await put_all(provider, NESTED)
    top = await provider.list_dir("")
    assert [m.path for m in top.objects] == ["dx", "top.txt"]
    assert top.folders == ("d/", "dd/")
    d = await provider.list_dir("d")
    assert [(m.path, m.size) for m in d.objects] == [("d/a", 3), ("d/b", 3)]
    assert d.folders == ("d/e/",)
    assert await provider.list_dir("d/") == d
    e = await provider.list_dir("d/e")
    assert [m.path for m in e.objects] == ["d/e/f"]
    assert e.folders == ("d/e/g/",)
    assert await provider.list_dir("nothing/here") == Listing()
    assert await provider.list_dir("top.txt") == Listing()


async def test_is_dir(provider: Provider) -> None:
    await put_all(provider, NESTED)
    for folder in ("d", "d/", "d/e", "d/e/g", "dd"):
        assert await provider.is_dir(folder), folder
    for not_folder in ("top.txt", "d/a", "missing", "d/e/g/h", "d/e/gg"):
        assert not await provider.is_dir(not_folder), not_folder


async def test_makedirs_then_list_shows_the_empty_folder(provider: Provider) -> None:
    require(provider, "empty_folders")
    await provider.makedirs("m/n/o")
    await provider.makedirs("m/n/o")
    assert (await provider.list_dir("")).folders == ("m/",)
    assert (await provider.list_dir("m")).folders == ("m/n/",)
    assert await provider.list_dir("m/n") == Listing((), ("m/n/o/",))
    assert (await provider.list_dir("m/n/o")).objects == ()
    assert await provider.is_dir("m/n/o")
    assert await provider.is_dir("m")
    assert not await provider.exists("m/n/o")
    assert await provider.list() == []
    # An explicitly made folder outlives the objects put into it.
    await provider.put("m/n/o/file", b"1")
    await provider.delete("m/n/o/file")
    assert await provider.is_dir("m/n/o")


async def test_makedirs_is_accepted_everywhere_and_objects_go_under_it(
    provider: Provider,
) -> None:
    await provider.makedirs("x/y")
    await provider.makedirs("x")
    await provider.put("x/y/z", b"z")
    await provider.makedirs("x/y")
    assert await provider.list("x") == ["x/y/z"]
    assert (await provider.list_dir("x")).folders == ("x/y/",)


async def test_listings_show_no_internal_files(provider: Provider) -> None:
    expected = ["c/created", "c/swapped", "c/written", "s/streamed"]
    if provider.capabilities.create_if_absent:
        await provider.put("c/created", b"1", mode="create")
    else:
        await provider.put("c/created", b"1")
    meta = await provider.put("c/swapped", b"1")
    if provider.capabilities.compare_and_swap:
        assert meta.etag is not None
        await provider.put("c/swapped", b"2", mode=IfMatch(meta.etag))
    await provider.put("c/written", b"1")
    await provider.write_stream("s/streamed", [b"a"] * 3)
    await provider.copy("c/written", "c/copied")
    await provider.rename("c/copied", "c/renamed")
    await provider.delete("c/renamed")
    assert await provider.list() == expected
    assert [m.path for m in (await provider.list_dir("c")).objects] == expected[:3]
    assert (await provider.list_dir("c")).folders == ()
    assert (await provider.list_dir("")).folders == ("c/", "s/")


async def test_a_long_listing_lets_other_tasks_run(provider: Provider, backend: Backend) -> None:
    # Local and memory list without awaiting: they hand the loop a turn every
    # LIST_TURN objects. A remote listing awaits its pages anyway (a few keys do).
    count = 20 if backend.remote else 2 * LIST_TURN + 10
    await asyncio.gather(*(provider.put(f"many/{n:04d}", b"") for n in range(count)))
    turns = 0

    async def ticker() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    try:
        start = turns
        seen = [turns async for _ in provider.iter("many")]
    finally:
        task.cancel()
    assert len(seen) == count
    assert seen[-1] - start >= 2  # the listing yielded to the loop on its way
