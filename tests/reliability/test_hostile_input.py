"""Hostile input beyond the key rules: a folder swapped for a symlink, hostile endpoints.

Covered elsewhere, and not repeated here:

- every bad key (``..``, ``%2e%2e``, NUL, ``NUL``/``COM1``/``con.txt``, trailing
  dots and spaces, NFC/NFD twins, U+202E, ...) at every provider method, and a
  hypothesis fuzz of keys: ``tests/test_paths.py``, ``tests/conformance/test_provider_keys.py``
  (which also covers symlinks to outside, dangling symlinks, and a symlink
  flipped between two targets);
- Redis namespaces with ``*``, ``?``, ``[`` and ``clear()``, planted pickles and
  forged signatures: ``tests/cache/test_redis.py``;
- artifact versions ``-1``, ``0``, ``01``, ``1e3``: ``tests/artifacts/test_store.py``.

Added here:

- a *real* folder on the path of running operations is repeatedly swapped for
  a symlink to a folder outside the root (the race a one-time ``realpath``
  check loses): nothing is read, written, renamed or deleted outside;
- endpoints ``http://169.254.169.254``, ``file:///etc/passwd``,
  ``http://user:pw@host`` and malformed ones, as S3, Azure and GCS options:
  refused with ``ConfigurationError`` or failing with a typed ``StorageError``,
  never a success, a panic or a raw exception, and the password never shown.
"""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

import storeroom
from storeroom import ConfigurationError, StorageError
from storeroom.providers.local import LocalProvider
from tests.conformance.support import tree
from tests.reliability.conftest import Budget
from tests.reliability.support import REPO

SECRET = b"outside secret: must never be read"


def operations(provider: LocalProvider, n: int) -> list[Callable[[], Awaitable[object]]]:
    """Every kind of operation on keys that pass through ``a/`` and ``a/b/``."""
    return [
        lambda: provider.put(f"a/b/put{n}", b"inside"),
        lambda: provider.put(f"a/create{n}", b"inside", mode="create"),
        lambda: provider.write_stream(f"a/b/stream{n}", [b"in", b"side"]),
        lambda: provider.read("a/b/secret"),
        lambda: provider.read("a/secret"),
        lambda: provider.read_range("a/b/secret", 0, 10),
        lambda: provider.head("a/secret"),
        lambda: provider.delete("a/secret"),
        lambda: provider.delete("a/b/secret"),
        lambda: provider.copy("a/b/secret", f"stolen{n}"),
        lambda: provider.rename("a/secret", f"moved{n}"),
        lambda: provider.rename("seed", f"a/b/renamed{n}"),
        lambda: provider.put("seed", b"inside"),
        lambda: provider.makedirs(f"a/b/dir{n}"),
        lambda: provider.list("a"),
        lambda: provider.list_dir("a/b"),
    ]


async def hammer(root: Path, rounds: int) -> tuple[list[object], Counter[str]]:
    """Run every operation ``rounds`` times: the results, and the typed errors by code.

    Any error other than a ``StorageError`` fails the test.
    """
    results: list[object] = []
    errors: Counter[str] = Counter()
    async with LocalProvider(root) as provider:
        await provider.put("seed", b"inside")
        for n in range(rounds):
            for operation in operations(provider, n):
                try:
                    results.append(await operation())
                except StorageError as exc:
                    errors[exc.code] += 1
                await asyncio.sleep(0)
    return results, errors


@pytest.mark.parametrize("depth", ["a", "a/b"])
def test_a_folder_swapped_for_a_symlink_lets_nothing_out(
    tmp_path: Path, depth: str, budget: Budget, figures: Counter[str]
) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "a" / "b").mkdir(parents=True)
    (outside / "b").mkdir(parents=True)
    for where in (outside, outside / "b"):
        (where / "secret").write_bytes(SECRET)
    before = tree(outside)
    stop = tmp_path / "stop"
    swapper = subprocess.Popen(
        [sys.executable, "-B", "-m", "tests.reliability.swapper",
         str(root / depth), str(outside), str(stop)],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        results, errors = asyncio.run(hammer(root, 500 if budget.soak else 150))
    finally:
        stop.touch()
        swapped, _ = map(int, swapper.communicate(timeout=30)[0].split())
    assert tree(outside) == before, "something outside the root changed"
    for result in results:
        data = getattr(result, "data", result)
        assert not (isinstance(data, bytes) and SECRET[:10] in data), "read a file outside"
    for stolen in root.rglob("stolen*"):
        assert SECRET[:10] not in stolen.read_bytes(), f"{stolen} is a copy of a file outside"
    assert swapped > 0, "the race never happened"
    figures["hostile: folder/symlink swaps raced"] += swapped
    figures["hostile: operations during swaps"] += len(results) + sum(errors.values())
    figures["hostile: refused as passing a symlink"] += errors["invalid_path"]


# -- endpoints -------------------------------------------------------------------

PASSWORD = "SECRETxENDPOINTxPW"
ENDPOINTS = [
    "http://169.254.169.254",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "file:///etc/passwd",
    f"http://user:{PASSWORD}@127.0.0.1:9",
    f"https://user:{PASSWORD}@example.invalid",
    "http://[::1",
    "javascript:alert(1)",
    "gopher://127.0.0.1:9",
    "",
]
_AZURE_KEY = base64.b64encode(b"an azure account key, not a real one").decode()
CLOUDS = {
    "s3": "s3://bucket/p?access_key_id=AKIDEXAMPLE&secret_access_key=not-a-real-secret",
    "az": f"az://container/p?account_name=acct&account_key={_AZURE_KEY}",
    "gs": "gs://bucket/p?bearer_token=not-a-real-token",
}
_FAST = "&allow_http=true&max_retries=0&timeout=2&connect_timeout=1"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("cloud", sorted(CLOUDS))
async def test_hostile_endpoints_are_refused_or_fail_typed(
    cloud: str, endpoint: str, figures: Counter[str]
) -> None:
    url = f"{CLOUDS[cloud]}{_FAST}"
    shown: list[str] = []
    try:
        provider = storeroom.provider(url, endpoint=endpoint)
    except ConfigurationError as exc:
        shown.append(str(exc))
    else:
        shown.append(repr(provider))
        async with provider:
            attempts: list[Callable[[], Awaitable[object]]] = [
                lambda: provider.put("k", b"x"),
                lambda: provider.read("k"),
            ]
            for attempt in attempts:
                try:
                    await attempt()
                except StorageError as exc:  # a panic or a raw exception fails the test
                    shown.append(str(exc))
                else:
                    pytest.fail(f"an operation through {endpoint!r} succeeded")
    figures["hostile: endpoints tried"] += 1
    assert not [text for text in shown if PASSWORD in text], shown


# -- the URL factories -----------------------------------------------------------


@pytest.mark.parametrize("url", ["memory://", "memory://name", "memory:///"])
async def test_memory_urls_in_every_documented_form_work(url: str) -> None:
    async with storeroom.provider(url) as provider:
        await provider.put("k", b"v")
        assert await provider.read("k") == b"v"


def test_the_factories_are_still_factories_after_use() -> None:
    """Using the stores (which imports their modules) never replaces a factory:
    every factory works on its second call as on its first."""
    for _ in range(2):
        assert type(storeroom.files("memory://a")).__name__ == "FileStore"
        assert type(storeroom.artifacts("memory://a")).__name__ == "ArtifactStore"
        assert type(storeroom.cache("memory://")).__name__ == "MemoryCache"
