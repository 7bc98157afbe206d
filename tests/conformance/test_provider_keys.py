"""Keys at every provider method: hostile keys refused, valid keys round-tripped.

Every bad key of the foundation and reliability issues goes through every
method of every provider. A method that *creates* a name refuses every bad
key; a method that reads, lists or deletes an existing name refuses only the
keys that cannot be addressed safely (``paths.address_problem``: ``../x``,
``a//b``, NUL, ...) and answers the others (``con.txt``, ``a.``: names other
tools write) as for any missing key. A refusal is a clear
:class:`~storeroom.InvalidPath`, and nothing is written anywhere (for the
local backend: nothing new in the test's tmp folder, which holds the root).
Valid keys, up to the longest the rules allow and fuzzed by hypothesis, must
round-trip unchanged.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given, settings

from storeroom import (
    AlreadyExists,
    IfMatch,
    InvalidPath,
    Listing,
    NotFound,
    PreconditionFailed,
    Provider,
    paths,
)
from tests.conformance.support import (
    BAD_KEYS,
    BAD_PREFIXES,
    LoopedProvider,
    absolute_outside,
    tree,
    valid_keys,
)

if TYPE_CHECKING:
    from tests.conformance.conftest import Backend

Call = Callable[[Provider, str], Awaitable[object]]


async def _drain(chunks: AsyncIterator[bytes]) -> None:
    async for _ in chunks:
        pass


#: Every method that takes a key, as (name, call); the key is the bad one.
READS: tuple[tuple[str, Call], ...] = (
    ("get", lambda p, k: p.get(k)),
    ("read", lambda p, k: p.read(k)),
    ("head", lambda p, k: p.head(k)),
    ("exists", lambda p, k: p.exists(k)),
    ("read_range", lambda p, k: p.read_range(k, 0, 1)),
    ("read_range_view", lambda p, k: p.read_range_view(k, 0, 1)),
    ("stream", lambda p, k: _drain(p.stream(k))),
)
WRITES: tuple[tuple[str, Call], ...] = (
    ("put", lambda p, k: p.put(k, b"x")),
    ("put-create", lambda p, k: p.put(k, b"x", mode="create")),
    ("put-if-match", lambda p, k: p.put(k, b"x", mode=IfMatch("0"))),
    ("write", lambda p, k: p.write(k, b"x")),
    ("write_stream", lambda p, k: p.write_stream(k, [b"x"])),
    ("delete", lambda p, k: p.delete(k)),
    ("copy-from", lambda p, k: p.copy(k, "copied")),
    ("copy-to", lambda p, k: p.copy("ok", k)),
    ("copy-to-no-overwrite", lambda p, k: p.copy("ok", k, overwrite=False)),
    ("rename-from", lambda p, k: p.rename(k, "renamed")),
    ("rename-to", lambda p, k: p.rename("ok", k)),
    # A bad key is refused before anything else is looked at.
    ("copy-missing-to", lambda p, k: p.copy("missing", k)),
    ("rename-missing-to", lambda p, k: p.rename("missing", k)),
    ("makedirs", lambda p, k: p.makedirs(k)),
)
#: Of :data:`WRITES`, those that never create a name: they address existing names.
ADDRESSING = frozenset({"delete", "copy-from", "rename-from"})
PREFIX_CALLS: tuple[tuple[str, Call], ...] = (
    ("list", lambda p, k: p.list(k)),
    ("iter", lambda p, k: _drain_meta(p, k)),
    ("list_dir", lambda p, k: p.list_dir(k)),
    ("is_dir", lambda p, k: p.is_dir(k)),
)


async def _drain_meta(provider: Provider, prefix: str) -> None:
    async for _ in provider.iter(prefix):
        pass


async def assert_refused(name: str, call: Call, provider: Provider, key: str) -> None:
    """``call(provider, key)`` raises InvalidPath (any other error propagates as is)."""
    try:
        await call(provider, key)
    except InvalidPath:
        return
    pytest.fail(f"{name}({key!r}) did not raise InvalidPath")


def _outside_snapshot(tmp_path: Path) -> tuple[object, ...]:
    return tree(tmp_path), sorted(p.name for p in tmp_path.parent.iterdir())


@pytest.mark.parametrize("key", BAD_KEYS, ids=ascii)
async def test_bad_keys_are_refused_by_every_method(
    provider: Provider, tmp_path: Path, key: str
) -> None:
    await provider.put("ok", b"ok")
    before = _outside_snapshot(tmp_path)
    addressable = paths.address_problem(key) is None
    calls = [(name, call, absolute_outside(key, tmp_path)) for name, call in WRITES
             if not (addressable and name in ADDRESSING)]  # fmt: skip
    if not addressable:
        calls += [(name, call, key) for name, call in READS]
        if key in BAD_PREFIXES:
            calls += [(name, call, key) for name, call in PREFIX_CALLS]
    for name, call, bad in calls:
        await assert_refused(name, call, provider, bad)
    if addressable:  # an existing name would be answered: a missing one is just missing
        answered = [*READS, *((n, c) for n, c in WRITES if n in ADDRESSING), *PREFIX_CALLS]
        for _, call in answered:
            with contextlib.suppress(NotFound, InvalidPath):  # InvalidPath: too long for a disk
                await call(provider, key)
    assert await provider.list() == ["ok"]
    assert await provider.read("ok") == b"ok"
    assert _outside_snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "key",
    [
        "s" * 255,
        "\u20ac" * 85,
        "/".join(["\u00e9" * 102] * 5),
        "/".join(["k" * 204] * 5),
    ],
    ids=["segment-255-ascii", "segment-255-utf8", "key-1024-utf8", "key-1024-ascii"],
)
async def test_the_longest_keys_work_with_every_write_mode(provider: Provider, key: str) -> None:
    await provider.put(key, b"1")
    assert await provider.read(key) == b"1"
    assert await provider.list() == [key]
    assert [m.path for m in (await provider.list_dir(paths.parent(key))).objects] == [key]
    await provider.write_stream(key, [b"2"])
    if provider.capabilities.compare_and_swap:
        etag = (await provider.head(key)).etag
        assert etag is not None
        await provider.put(key, b"3", mode=IfMatch(etag))
    await provider.rename(key, "moved")
    await provider.copy("moved", key)
    await provider.delete("moved")
    if provider.capabilities.create_if_absent:
        await provider.delete(key)
        await provider.put(key, b"4", mode="create")
    assert await provider.list() == [key]
    await provider.delete(key)
    assert await provider.list() == []


async def round_trip(provider: Provider, key: str) -> None:
    """Everything a valid key must survive on a backend."""
    data = key.encode("utf-8")
    meta = await provider.put(key, data)
    assert meta.path == key
    assert await provider.read(key) == data
    assert (await provider.head(key)).path == key
    assert await provider.exists(key)
    assert await provider.list() == [key]
    folder = paths.parent(key)
    assert await provider.list(folder) == [key]
    assert [m.path for m in (await provider.list_dir(folder)).objects] == [key]
    if folder:
        assert await provider.is_dir(folder)
    await provider.delete(key)
    assert not await provider.exists(key)


def test_fuzz_valid_keys_round_trip(backend: Backend, request: pytest.FixtureRequest) -> None:
    @settings(
        max_examples=backend.state_machine_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(key=valid_keys())
    def check(key: str) -> None:
        # A fresh store per key: a local folder left by "a/b" would block the key "a".
        looped = LoopedProvider(backend.open(request))
        try:
            looped.run(round_trip(looped.provider, key))
        finally:
            looped.close()

    check()


# -- the local backend: symlinks and a sibling whose name extends the root's ------


@pytest.fixture
async def local(tmp_path: Path) -> AsyncIterator[tuple[Provider, Path]]:
    """A local provider on ``tmp_path/root``, and a folder outside it with a secret."""
    import storeroom

    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    async with storeroom.provider(str(root)) as provider:
        await provider.put("ok", b"ok")
        yield provider, root


#: Through a link these go to the secret; every other method plants a new file.
_READS_SECRET = {name for name, _ in READS} | {"delete", "copy-from", "rename-from"}


async def assert_confined(provider: Provider, root: Path, link: str) -> None:
    """Every method refuses keys that pass through the symlink ``root/link``."""
    outside = root.parent / "outside"
    before = tree(outside)
    for name, call in (*READS, *WRITES):
        if "missing" in name:
            continue  # those check the order of validation, not confinement
        key = f"{link}/secret.txt" if name in _READS_SECRET else f"{link}/planted.txt"
        await assert_refused(name, call, provider, key)
    assert tree(outside) == before
    assert (outside / "secret.txt").read_bytes() == b"secret"
    assert await provider.list() == ["ok"]
    listing = await provider.list_dir("")
    assert f"{link}/" not in listing.folders
    for prefix in (link, f"{link}/"):
        assert await provider.list(prefix) == []
        assert await provider.list_dir(prefix) == Listing()
        assert not await provider.is_dir(prefix)


async def test_local_symlink_to_a_folder_outside_the_root(
    local: tuple[Provider, Path], tmp_path: Path
) -> None:
    provider, root = local
    (root / "link").symlink_to(tmp_path / "outside", target_is_directory=True)
    await assert_confined(provider, root, "link")


async def test_local_symlink_to_a_sibling_whose_name_extends_the_roots(
    local: tuple[Provider, Path], tmp_path: Path
) -> None:
    provider, root = local
    sibling = tmp_path / "root-evil"
    sibling.mkdir()
    (sibling / "secret.txt").write_bytes(b"sibling secret")
    (root / "sib").symlink_to("../root-evil", target_is_directory=True)
    (root / "outside").symlink_to(sibling, target_is_directory=True)
    before = tree(sibling)
    for link in ("sib", "outside"):
        for call in (provider.get, provider.head):
            with pytest.raises(InvalidPath):
                await call(f"{link}/secret.txt")
        with pytest.raises(InvalidPath):
            await provider.put(f"{link}/planted.txt", b"x")
        with pytest.raises(InvalidPath):
            await provider.copy(f"{link}/secret.txt", "stolen")
    assert tree(sibling) == before
    assert await provider.list() == ["ok"]


async def assert_link_is_no_object(provider: Provider, link: str) -> None:
    """The symlink ``link`` in the root reads as no object: refused or not found."""
    assert not await provider.exists(link)
    for name, call in (*READS, ("copy-from", WRITES[6][1])):
        if name != "exists":
            with pytest.raises((InvalidPath, FileNotFoundError)):
                await call(provider, link)
    assert link not in await provider.list()


async def write_over_link(
    provider: Provider, link: str, target: Path, content: bytes | None
) -> None:
    """Every write at ``link`` replaces the link or is refused; ``target`` keeps ``content``.

    ``content`` None: ``target`` must not come to exist.
    """
    for name, call in WRITES[:6]:
        with contextlib.suppress(InvalidPath, AlreadyExists, PreconditionFailed):
            await call(provider, link)
        now = target.read_bytes() if target.exists() else None
        assert now == content, f"{name} at {link!r} wrote through to {target}"


async def test_local_symlinked_file_is_never_read_or_written_through(
    local: tuple[Provider, Path], tmp_path: Path
) -> None:
    provider, root = local
    secret = tmp_path / "outside" / "secret.txt"
    (root / "file-link").symlink_to(secret)
    await assert_link_is_no_object(provider, "file-link")
    await write_over_link(provider, "file-link", secret, b"secret")
    assert sorted(p.name for p in secret.parent.iterdir()) == ["secret.txt"]


async def test_local_dangling_symlinks(local: tuple[Provider, Path], tmp_path: Path) -> None:
    provider, root = local
    nowhere, nowhere_dir = tmp_path / "nowhere", tmp_path / "nowhere-dir"
    (root / "dangling").symlink_to(nowhere)
    (root / "dangling-dir").symlink_to(nowhere_dir, target_is_directory=True)
    await assert_link_is_no_object(provider, "dangling")
    for name, call in WRITES:
        if "missing" not in name and not name.endswith("-from"):
            await assert_refused(name, call, provider, "dangling-dir/planted")
    assert await provider.list() == ["ok"]
    assert not nowhere_dir.exists()
    await write_over_link(provider, "dangling", nowhere, None)


def test_local_symlink_swapped_during_operations(tmp_path: Path) -> None:
    """A link flipped between a folder inside and one outside never lets a write out."""
    import asyncio
    import os
    import threading

    import storeroom

    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "inside").mkdir(parents=True)
    outside.mkdir()
    (root / "swap").symlink_to(root / "inside", target_is_directory=True)
    stop = threading.Event()

    def flip() -> None:
        targets = [outside, root / "inside"]
        n = 0
        while not stop.is_set():
            n += 1
            temp = root.parent / f"link-{n}"
            temp.symlink_to(targets[n % 2], target_is_directory=True)
            os.replace(temp, root / "swap")

    async def hammer() -> None:
        async with storeroom.provider(str(root)) as provider:
            for n in range(400):
                for call in (
                    provider.put(f"swap/f{n}", b"x"),
                    provider.put(f"swap/c{n}", b"x", mode="create"),
                    provider.makedirs(f"swap/d{n}"),
                    provider.copy("inside/seed", f"swap/p{n}"),
                ):
                    with contextlib.suppress(InvalidPath):
                        await call

    (root / "inside" / "seed").write_bytes(b"seed")
    flipper = threading.Thread(target=flip)
    flipper.start()
    try:
        asyncio.run(hammer())
    finally:
        stop.set()
        flipper.join()
    assert list(outside.iterdir()) == []
