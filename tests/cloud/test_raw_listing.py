"""Listings that keep the keys obstore cannot parse (issue 10), on the three emulators.

obstore fails a whole listing page on a key such as ``../x`` or ``a//b``; the
provider then lists through :mod:`storeroom.providers.object.rawlist` (the
cloud's own list request, signed as obstore signs it). These tests prove that
listing against the real wire protocols: it lists exactly what obstore lists,
page after page; it carries on after the pages obstore already gave; and its
S3 signature is the one botocore computes.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import random
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import pytest

import storeroom
from storeroom import (
    BackendUnavailable,
    FolderNotEmpty,
    InvalidPath,
    ObjectMeta,
    PermissionDenied,
    SkippedKey,
    StorageError,
)
from storeroom.providers.object import rawlist
from storeroom.providers.object.rawlist import RawLister, XmlLister, sigv4_headers
from storeroom.providers.object.s3 import S3Provider
from storeroom.providers.object.store import ObjectStoreProvider
from storeroom.retry import Backoff
from tests.services.cloud import CloudServer, raw_put

from .support import run_limited, unique_prefix


@pytest.fixture(params=["s3", "azure", "gcs"])
def server(request: pytest.FixtureRequest) -> CloudServer:
    found: CloudServer = request.getfixturevalue(f"{request.param}_server")
    return found


@pytest.fixture
async def store(server: CloudServer) -> AsyncIterator[ObjectStoreProvider]:
    provider = storeroom.provider(server.url(unique_prefix("raw")))
    assert isinstance(provider, ObjectStoreProvider)
    async with provider:
        yield provider


def lister_of(provider: ObjectStoreProvider, page_size: int) -> RawLister:
    lister = provider._raw_lister()
    assert isinstance(lister, RawLister), lister
    lister.page_size = page_size
    return lister


async def test_the_raw_listing_lists_what_obstore_lists(store: ObjectStoreProvider) -> None:
    keys = [f"k{n:02d}" for n in range(23)] + ["sub/a.txt", "sub/deep/b.txt", "é t.md", "x+y=z"]

    async def put(n: int) -> None:
        await store.put(keys[n], b"x" * n)

    await run_limited(range(len(keys)), 8, put)
    await store.makedirs("empty")  # its marker is storeroom's own: never listed
    lister = lister_of(store, page_size=5)

    pages = [page async for page in lister.pages("", delimiter=False)]
    assert len(pages) >= 6  # continuation tokens followed to the end
    raw = [item for page in pages for item in page.objects if ".sr-" not in item.key]
    by_obstore = [meta async for meta in store.iter("")]
    assert [(i.key, i.size) for i in raw] == [(m.path, m.size) for m in by_obstore]
    assert all(i.modified.tzinfo is not None for i in raw)
    assert [m.etag for m in by_obstore] == [
        ObjectMeta(i.key, i.size, i.modified, i.etag).etag and _quoted(i.etag) for i in raw
    ]

    top = [page async for page in lister.pages("", delimiter=True)]
    assert sorted(p for page in top for p in page.prefixes) == ["empty/", "sub/"]
    assert len([i for page in top for i in page.objects]) == 25
    sub = [i.key async for page in lister.pages("sub/", delimiter=False) for i in page.objects]
    assert sub == ["sub/a.txt", "sub/deep/b.txt"]


def _quoted(etag: str | None) -> str | None:
    return etag if etag is None or etag.startswith('"') else f'"{etag}"'


async def test_a_listing_carries_on_past_the_page_obstore_refused(
    s3_server: CloudServer,
) -> None:
    # obstore's pages hold 1,000 keys: the unparseable key sits on the second.
    async with storeroom.provider(s3_server.url(unique_prefix("resume"))) as store:
        assert isinstance(store, ObjectStoreProvider)

        async def put(n: int) -> None:
            await store.put(f"k{n:04d}", b"")

        await run_limited(range(1005), 16, put)
        await asyncio.to_thread(raw_put, store, "k0500/../up", b"bad")
        await asyncio.to_thread(raw_put, store, "k0700\ttab", b"bad")
        await asyncio.to_thread(raw_put, store, "z//last", b"bad")
        scanned = [item async for item in store.scan("")]
        found = [i.path for i in scanned if isinstance(i, ObjectMeta)]
        assert found == [f"k{n:04d}" for n in range(1005)]  # none twice, none lost
        assert [(i.path, type(i)) for i in scanned if not isinstance(i, ObjectMeta)] == [
            ("k0500/../up", SkippedKey), ("k0700\ttab", SkippedKey), ("z//last", SkippedKey),
        ]  # fmt: skip
        assert await store.is_dir("z")
        with pytest.raises(FolderNotEmpty):
            await store.remove_folder("z")


async def test_without_credentials_to_sign_the_listing_says_why(s3_server: CloudServer) -> None:
    async with storeroom.provider(s3_server.url(unique_prefix("unsigned"))) as store:
        assert isinstance(store, S3Provider)
        await store.put("ok.txt", b"ok")
        await asyncio.to_thread(raw_put, store, "a//b", b"bad")
        # As with web identity or an instance role: obstore signs, this process cannot.
        store.config = replace(store.config, access_key_id=None, secret_access_key=None)
        with pytest.raises(InvalidPath, match="needs credentials this process can sign with"):
            await store.list()
        assert "testing" not in str(store._raw_lister())


def test_the_s3_signature_is_the_one_botocore_computes(monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.auth  # type: ignore[import-untyped]
    from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
    from botocore.credentials import Credentials  # type: ignore[import-untyped]

    now = datetime(2026, 12, 4, 12, 30, 5, tzinfo=timezone.utc)
    url = (
        "http://127.0.0.1:9000/my-bucket/?continuation-token=1%2Fab%3D%3D&encoding-type=url"
        "&list-type=2&max-keys=1000&prefix=a%20b%2F%C3%A9"
    )
    for session in (None, "the-session-token"):
        ours = sigv4_headers(
            "GET", url, region="eu-west-1", service="s3",
            credentials=("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", session),
            now=now,
        )  # fmt: skip
        request = AWSRequest(method="GET", url=url, headers={
            "x-amz-content-sha256": ours["x-amz-content-sha256"],
        })  # fmt: skip
        creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", session)
        monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: now)
        botocore.auth.SigV4Auth(creds, "s3", "eu-west-1").add_auth(request)
        assert ours["Authorization"] == request.headers["Authorization"]


class _Scripted(http.server.BaseHTTPRequestHandler):
    """Answers each GET with the next reply of the server's script: (status, headers, body)."""

    def do_GET(self) -> None:
        script: list[tuple[int, dict[str, str], bytes]] = self.server.script  # type: ignore[attr-defined]
        self.server.asked.append(self.path)  # type: ignore[attr-defined]
        status, headers, body = script.pop(0) if len(script) > 1 else script[0]
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def scripted(*replies: tuple[int, dict[str, str], bytes]) -> Iterator[tuple[str, list[str]]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    server.script = list(replies)  # type: ignore[attr-defined]
    server.asked = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/bucket", server.asked  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def _listing(keys: list[str], token: str | None = None) -> bytes:
    contents = "".join(
        f"<Contents><Key>{k}</Key><Size>1</Size><LastModified>2026-01-02T03:04:05.000Z"
        "</LastModified><ETag>&quot;e&quot;</ETag></Contents>" for k in keys
    )
    more = f"<IsTruncated>true</IsTruncated><NextContinuationToken>{token}</NextContinuationToken>"
    return (
        '<?xml version="1.0"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        f"{more if token else '<IsTruncated>false</IsTruncated>'}{contents}</ListBucketResult>"
    ).encode()


def _lister(base: str) -> XmlLister:
    return XmlLister(base, prefix="root", description="s3://bucket/root", timeout=5.0,
                     backoff=Backoff(0.001, 0.001, 2, 5.0))  # fmt: skip


async def _keys(lister: XmlLister) -> list[str]:
    return [i.key async for page in lister.pages("", delimiter=False) for i in page.objects]


async def test_a_hostile_listing_server_gets_typed_errors_never_a_hang(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    xml = {"Content-Type": "application/xml"}
    monkeypatch.setattr(rawlist, "_MAX_REPLY", 4096)
    huge = _listing([f"root/{n:04d}" for n in range(100)])
    with scripted((200, xml, huge)) as (base, _), pytest.raises(BackendUnavailable, match="over"):
        await _keys(_lister(base))
    with scripted((200, xml, _listing(["root/a", "elsewhere/b", "root/../c"]))) as (base, asked):
        assert await _keys(_lister(base)) == ["a", "../c"]  # outside the root: dropped
        assert "prefix=root%2F" in asked[0]
    with scripted((200, xml, _listing(["root/a"], token="same"))) as (base, asked):
        with pytest.raises(BackendUnavailable, match="same continuation"):
            await _keys(_lister(base))
        assert len(asked) == 2
    unreadable = pytest.raises(BackendUnavailable, match="not a listing")
    with scripted((200, xml, b"<not xml")) as (base, _), unreadable:
        await _keys(_lister(base))
    bad_size = _listing(["root/a"]).replace(b"<Size>1</Size>", b"<Size>many</Size>")
    unreadable = pytest.raises(BackendUnavailable, match="not a listing")
    with scripted((200, xml, bad_size)) as (base, _), unreadable:
        await _keys(_lister(base))
    with scripted((503, {}, b""), (200, xml, _listing(["root/a"]))) as (base, asked):
        assert await _keys(_lister(base)) == ["a"]  # throttling is retried
        assert len(asked) == 2
    with scripted((503, {}, b"")) as (base, asked):
        with pytest.raises(BackendUnavailable, match="retries exhausted"):
            await _keys(_lister(base))
        assert len(asked) == 3
    redirect = (302, {"Location": "http://169.254.169.254/"}, b"")
    with scripted(redirect) as (base, _), pytest.raises(StorageError, match="answered 302"):
        await _keys(_lister(base))  # a redirect is never followed
    with scripted((403, {}, b"")) as (base, _), pytest.raises(PermissionDenied):
        await _keys(_lister(base))


@pytest.mark.parametrize("kind", ["s3", "azure"])  # the GCS emulator cannot hold such keys
async def test_a_listing_cancelled_anywhere_leaves_nothing_behind(
    kind: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelled at random points, in obstore's pages or in the raw pages after
    them (a request in a thread), a listing either finished with every key or
    raised ``CancelledError``; no task is left running and the next listing
    is whole."""
    server: CloudServer = request.getfixturevalue(f"{kind}_server")
    monkeypatch.setattr(
        ObjectStoreProvider, "_raw_lister",
        _small_pages(ObjectStoreProvider._raw_lister, page_size=4),
    )  # fmt: skip
    async with storeroom.provider(server.url(unique_prefix("cancel"))) as store:
        assert isinstance(store, ObjectStoreProvider)

        async def put(n: int) -> None:
            await store.put(f"k{n:02d}", b"x" * n)

        await run_limited(range(24), 8, put)
        await asyncio.to_thread(raw_put, store, "k05/../up", b"bad")

        async def listing() -> list[str]:
            return [item.path async for item in store.scan("")]

        started = asyncio.get_running_loop().time()
        expected = await listing()
        took = asyncio.get_running_loop().time() - started
        assert expected[:6] == ["k00", "k01", "k02", "k03", "k04", "k05"]
        assert "k05/../up" in expected  # listed through the raw pages, page by page
        before = asyncio.all_tasks()
        rng = random.Random(7)
        finished = cancelled = 0
        for attempt in range(30):
            task = asyncio.ensure_future(listing())
            if attempt < 6:
                for _ in range(attempt):
                    await asyncio.sleep(0)  # the first turns, one by one
            else:
                await asyncio.sleep(rng.uniform(0, took * 1.2))
            task.cancel()
            try:
                assert await task == expected  # finished before the cancel
                finished += 1
            except asyncio.CancelledError:
                cancelled += 1
        assert cancelled >= 10
        assert await listing() == expected
        await asyncio.sleep(0)
        assert asyncio.all_tasks() - before == set()


def _small_pages(original: Any, page_size: int) -> Any:
    def lister(self: ObjectStoreProvider) -> RawLister | str:
        made: RawLister | str = original(self)
        if isinstance(made, RawLister):
            made.page_size = page_size
        return made

    return lister
