"""Fuzzing URLs and options: every outcome is a store or a typed storeroom error, quickly.

Issue 10 item 6. Only parsing and building are fuzzed: building a store does
no I/O, name resolution (the endpoint check) is replaced by a fake that
answers 127.0.0.1 or "no such name", local paths are single names inside a
temporary folder, and nothing built here is used. So no request leaves the
process, whatever the fuzzer writes.
"""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import storeroom
from storeroom import StorageError
from storeroom.urls import CACHE_SCHEMES, PROVIDER_SCHEMES

#: Characters that matter to URL parsing, and some that matter to nobody.
_URL_CHARS = st.sampled_from([*"[]@:/?&=#%.-_~+ ;,'\"\\\x00\n\t", "é", "😀", "\udcff"])
_TEXT = st.text(st.one_of(_URL_CHARS, st.characters(codec="utf-8")), max_size=30)
_OPTION_NAMES = st.sampled_from(
    [
        "endpoint",
        "region",
        "allow_http",
        "timeout",
        "max_retries",
        "part_size",
        "account_name",
        "account_key",
        "sas_token",
        "connection_string",
        "use_emulator",
        "bearer_token",
        "emulator",
        "service_account_key",
        "anonymous",
        "instance_metadata",
        "durable",
        "namespace",
        "fail_open",
        "serializer",
        "allow_unsafe_writes",
        "gc_grace",
        "inline_limit",
        "conditional_writes",
        "virtual_hosted_style",
        "backoff_max",
    ]
)
_VALUES = st.one_of(
    _TEXT,
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.sampled_from(["true", "0", "http://127.0.0.1:9", "http://0xa9fea9fe", "1e999", "-1"]),
)
_OPTIONS = st.dictionaries(st.one_of(_OPTION_NAMES, _TEXT), _VALUES, max_size=4)
_SECRETS = {
    "s3": {"access_key_id": "fuzz", "secret_access_key": "fuzz-secret"},
    "az": {"account_name": "fuzz", "account_key": "ZnV6eg=="},
    "azure": {"account_name": "fuzz", "account_key": "ZnV6eg=="},
    "gs": {"bearer_token": "fuzz-token"},
}
#: A building that takes longer than this is a hang.
_SLOW = 2.0


def _fake_resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
    if isinstance(host, str) and host.startswith("nx"):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 443))]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[None]:
    """No real name resolution, and a temporary working folder for local stores."""
    with pytest.MonkeyPatch.context() as patch, tempfile.TemporaryDirectory() as folder:
        patch.setattr(socket, "getaddrinfo", _fake_resolve)
        patch.chdir(folder)
        yield


def _build(factory: Any, url: str, options: dict[str, Any]) -> None:
    started = time.monotonic()
    try:
        built = factory(url, **options)
    except StorageError:
        pass  # a typed error: fine (and no other kind of exception is)
    else:
        close = getattr(built, "aclose", None)
        if close is not None:
            asyncio.run(close())
    assert time.monotonic() - started < _SLOW, f"building {url!r} took too long"


_FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@_FUZZ
@given(scheme=st.sampled_from(sorted(set(PROVIDER_SCHEMES) - {"file"})), rest=_TEXT,
       options=_OPTIONS)  # fmt: skip
def test_provider_urls_and_options(
    sandbox: None, scheme: str, rest: str, options: dict[str, Any]
) -> None:
    with_secrets = {**_SECRETS.get(scheme, {}), **options}
    _build(storeroom.provider, f"{scheme}://{rest}", with_secrets)
    _build(storeroom.artifacts, f"{scheme}://bucket-{rest}", with_secrets)


@_FUZZ
@given(name=_TEXT.filter(lambda t: "/" not in t and "\\" not in t), options=_OPTIONS,
       as_url=st.booleans())  # fmt: skip
def test_local_paths_and_options(
    sandbox: None, name: str, options: dict[str, Any], as_url: bool
) -> None:
    # One name inside the sandbox ("fz" first, so never "." or ".."): nothing outside it.
    path = f"fz{name}"
    _build(storeroom.provider, f"file://{os.getcwd()}/{path}" if as_url else path, options)
    _build(storeroom.files, path, options)


@_FUZZ
@given(scheme=st.sampled_from(sorted(CACHE_SCHEMES)), rest=_TEXT, options=_OPTIONS)
def test_cache_urls_and_options(
    sandbox: None, scheme: str, rest: str, options: dict[str, Any]
) -> None:
    _build(storeroom.cache, f"{scheme}://{rest}", options)


@pytest.mark.parametrize(
    "url",
    [
        "s3://[bad/p",
        "s3://bucket]/p",
        "az://[::1/p",
        "gs://b/p?timeout",
        "s3://b/p?%zz=1",
        "gs://b/p?endpoint=http://[::1",
        "memory://?x",
        "redis://[bad",
    ],
)
def test_malformed_urls_are_configuration_errors(sandbox: None, url: str) -> None:
    factory = storeroom.cache if url.startswith("redis") else storeroom.provider
    with pytest.raises(storeroom.ConfigurationError) as caught:
        factory(url, **_SECRETS.get(url.partition(":")[0], {}))
    assert "internal" not in str(caught.value)


def test_a_url_that_is_not_a_string(sandbox: None) -> None:
    with pytest.raises(storeroom.ConfigurationError, match="must be a str"):
        storeroom.provider(b"s3://bucket/p")  # type: ignore[arg-type]
