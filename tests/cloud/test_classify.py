"""A native error is read once, by its type, status and code: never by later re-reading.

Issue 11 item 2: the store acts on types (``RangeNotSatisfiable`` for a 416,
``Throttled`` for a 503/429), and a key that happens to contain alarming
words ("timed out", "tls") changes nothing.
"""

from __future__ import annotations

import pytest
from obstore import exceptions as native

from storeroom import (
    BackendUnavailable,
    ConfigurationError,
    NotFound,
    PermissionDenied,
    StorageError,
)
from storeroom.providers.object.errors import (
    RangeNotSatisfiable,
    Throttled,
    classify,
    storage_error,
)

_GET = "Error performing GET http://127.0.0.1:9/b/{key} in 3ms - "


def _generic(reply: str, key: str = "k") -> native.GenericError:
    return native.GenericError(f"Generic S3 error: {_GET.format(key=key)}{reply}")


@pytest.mark.parametrize(
    ("error", "kind", "cause"),
    [
        (
            _generic(
                "Server returned non-2xx status code: 416 Range Not Satisfiable: <Code>"
                "InvalidRange</Code>"
            ),
            RangeNotSatisfiable,
            "range",
        ),
        (
            native.GenericError("Wanted range starting at 5, but object was only 5 bytes long"),
            RangeNotSatisfiable,
            "range",
        ),
        (
            _generic(
                "Server returned non-2xx status code: 503 Service Unavailable: <Code>SlowDown"
                "</Code>"
            ),
            Throttled,
            None,
        ),
        (
            _generic("Server returned non-2xx status code: 500 Internal Server Error"),
            BackendUnavailable,
            None,
        ),
        (
            _generic(
                "Server returned non-2xx status code: 403 Forbidden: <Code>AccessDenied</Code>"
            ),
            PermissionDenied,
            "denied",
        ),
        (
            FileNotFoundError("Object at location k not found: 404 <Code>NoSuchBucket</Code>"),
            ConfigurationError,
            "no_bucket",
        ),
        (FileNotFoundError("Object at location k not found"), NotFound, None),
        (
            _generic(
                "HTTP error: error sending request\n\nDebug source: kind: Connect, "
                'ConnectError("dns error", "failed to lookup address information")'
            ),
            BackendUnavailable,
            "dns",
        ),
        (
            _generic("HTTP error: builder error\n\nDebug source: kind: Builder, source: BadScheme"),
            ConfigurationError,
            "bad_scheme",
        ),
    ],
)
def test_each_native_error_has_one_reading(
    error: BaseException, kind: type[StorageError], cause: str | None
) -> None:
    reading = classify(error)
    assert reading.kind is kind
    assert reading.cause == cause
    mapped = storage_error(error, "get 'k' on s3://b/", path="k", secrets=())
    assert type(mapped) is kind
    assert isinstance(mapped, StorageError)


@pytest.mark.parametrize("key", ["timed out", "tls handshake", "connection refused", "416"])
def test_words_in_a_key_are_not_a_reading(key: str) -> None:
    error = native.NotFoundError(
        f'Object at location {key} not found\n\nDebug source: path: "{key}"'
    )
    reading = classify(error)
    assert reading.kind is NotFound
    assert reading.cause is None
    assert reading.status is None


def test_secrets_are_scrubbed_once_and_for_all() -> None:
    error = _generic("Server returned non-2xx status code: 403 Forbidden: token s3cr3t-value")
    mapped = storage_error(error, "get 'k'", path="k", secrets=("s3cr3t-value",))
    assert "s3cr3t-value" not in str(mapped)
    assert "s3cr3t-value" not in str(error)  # the native error too (tracebacks show it)
