"""The one place where obstore's errors become storeroom's, with what to do about them.

:meth:`~storeroom.providers.object.store.ObjectStoreProvider._mapped` catches
what :func:`is_native` recognises and raises :func:`storage_error` of it with
``raise ... from exc``. A native error is read once, by :func:`classify`: its
exception type, the HTTP status the server answered with (if it answered)
and the server's error code or the connection failure give a
:class:`Reading`; nothing reads the text again after that. What callers must
tell apart is in the type: :class:`RangeNotSatisfiable` (a 416) and
:class:`Throttled` (a 503/429: the server refused the request unapplied).

Each message says where (the operation and the store, secrets masked), what
happened, and the next step (:data:`ADVICE`). Secrets are scrubbed from the
native text, in the native exception too, so that no traceback shows them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from obstore import exceptions as native

from ...errors import (
    AlreadyExists,
    BackendUnavailable,
    ConfigurationError,
    InvalidPath,
    NotFound,
    NotSupported,
    PermissionDenied,
    PreconditionFailed,
    StorageError,
)

__all__ = [
    "ADVICE",
    "RangeNotSatisfiable",
    "Reading",
    "Throttled",
    "classify",
    "is_native",
    "storage_error",
]


class RangeNotSatisfiable(StorageError):
    """The server answered 416: the requested range starts past the object's end."""


class Throttled(BackendUnavailable):
    """The server answered 503 or 429: busy, and the request was not applied."""


_NATIVE_ERRORS = (native.BaseError, FileNotFoundError, PermissionError)
_STATUS = re.compile(r"status(?: code)?: (\d{3})\b")
_CODE = re.compile(r"<Code>(\w+)</Code>")
_URL = re.compile(r"\bhttps?://\S+")
# Where obstore's text quotes a key (a key may hold any words).
_KEYS = re.compile(r'path: "(?:[^"\\]|\\.)*"|location .*? not found|location \S+')
# What went wrong, read from obstore's text (URLs removed first, so keys never match);
# the first that matches wins.
_CAUSES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("range", re.compile(r"InvalidRange|Wanted range starting at")),
    ("no_bucket", re.compile(r"NoSuchBucket|ContainerNotFound|bucket does not exist", re.I)),
    ("bad_scheme", re.compile(r"BadScheme|builder error", re.I)),
    ("tls", re.compile(r"InvalidContentType|certificate|\btls\b|handshake|CorruptMessage", re.I)),
    ("dns", re.compile(r"dns error|failed to lookup address|Name or service not known", re.I)),
    ("refused", re.compile(r"ConnectionRefused|connection refused", re.I)),
    ("timeout", re.compile(r"kind: Timeout\b|timed ?out|deadline has elapsed", re.I)),
    (
        "broken",
        re.compile(
            r"kind: (?:Connect|Interrupted)\b|error sending request|connection (?:reset|closed|"
            r"aborted)|broken pipe|unexpected ?eof|incomplete ?body",
            re.I,
        ),
    ),
)
#: The next step for each cause, as the end of the message.
ADVICE = {
    "no_bucket": "the bucket or container does not exist: create it, or fix its name in the URL",
    "bad_scheme": "the endpoint is plain http: pass allow_http=true (or use https)",
    "tls": "the TLS handshake failed: if the server speaks plain http, use an http:// "
    "endpoint with allow_http=true; otherwise check its certificate",
    "dns": "the endpoint's host name does not resolve: check the endpoint option "
    "(or the environment variable that set it) and the network",
    "refused": "nothing accepts connections at the endpoint: is the server running, "
    "and are the host and port right?",
    "timeout": "the server did not answer in time: check the endpoint and the network, "
    "or raise timeout=",
    "denied": "access denied: check the credentials and their permissions on the bucket",
}
# Native exception types -> storeroom classes, checked in this order.
_KINDS: tuple[tuple[type[StorageError], tuple[type[BaseException], ...]], ...] = (
    (ConfigurationError, (native.UnknownConfigurationKeyError,)),
    (NotFound, (FileNotFoundError, native.NotFoundError)),
    (AlreadyExists, (native.AlreadyExistsError,)),
    (PreconditionFailed, (native.PreconditionError, native.NotModifiedError)),
    (
        PermissionDenied,
        (PermissionError, native.PermissionDeniedError, native.UnauthenticatedError),
    ),
    (NotSupported, (native.NotSupportedError,)),
    (InvalidPath, (native.InvalidPathError,)),
)
# Causes that decide the class whatever the native type.
_CAUSE_KINDS: dict[str, type[StorageError]] = {
    "no_bucket": ConfigurationError,
    "bad_scheme": ConfigurationError,
    "tls": ConfigurationError,
    "dns": BackendUnavailable,
    "refused": BackendUnavailable,
    "timeout": BackendUnavailable,
    "broken": BackendUnavailable,
}


@dataclass(frozen=True)
class Reading:
    """What one native error means, read once.

    Attributes:
        kind: the storeroom class to raise.
        status: the HTTP status the server answered with, if it answered.
        cause: what went wrong, if known: a key of :data:`ADVICE`, ``"range"`` or ``"broken"``.
        reason: the first line of the native text, scrubbed of secrets.
        code: the server's error code (``NoSuchBucket``, ``AccessDenied``), if it sent one.
    """

    kind: type[StorageError]
    status: int | None
    cause: str | None
    reason: str
    code: str | None = None


def is_native(exc: BaseException) -> bool:
    """An error of obstore, or a panic in its Rust code (raised by its async runtime)."""
    return isinstance(exc, _NATIVE_ERRORS) or type(exc).__module__ == "pyo3_async_runtimes"


def classify(exc: BaseException, secrets: Sequence[str] = ()) -> Reading:
    """Read the native ``exc`` once; its text is scrubbed of ``secrets`` in place."""
    text = str(exc)
    for secret in secrets:
        text = text.replace(secret, "***")
    exc.args = (text,)
    lines = text.split("\n\nDebug source", 1)[0].strip().splitlines()
    reason = (lines[0] if lines else type(exc).__name__)[:300]
    plain = _KEYS.sub("<key>", _URL.sub("<url>", text))
    found = _STATUS.search(plain)
    status = int(found.group(1)) if found else None
    code = found_code.group(1) if (found_code := _CODE.search(plain)) else None
    cause = next((name for name, pattern in _CAUSES if pattern.search(plain)), None)
    kind = next((k for k, natives in _KINDS if isinstance(exc, natives)), StorageError)
    if status in (401, 403) or kind is PermissionDenied:
        kind, cause = PermissionDenied, "denied"
    elif status == 416 or cause == "range":
        kind = RangeNotSatisfiable
    elif status in (429, 503):
        kind = Throttled
    elif cause is not None:
        kind = _CAUSE_KINDS[cause]
    elif status is not None and status >= 500 and kind is StorageError:
        kind = BackendUnavailable
    return Reading(kind, status, cause, reason, code)


def storage_error(
    exc: BaseException,
    where: str,
    *,
    path: str | None,
    secrets: Sequence[str],
    configuring: bool = False,
    credentials: str = "",
) -> StorageError:
    """The storeroom error for the native ``exc`` raised while doing ``where``.

    Args:
        exc: the native error; its text is scrubbed of ``secrets`` in place.
        where: the operation and the provider, for the message (already masked).
        path: the key involved, if any.
        secrets: credential values that must not appear in any text.
        configuring: the error came from building the store: a ``ConfigurationError``.
        credentials: where the credentials came from, for an access-denied message.
    """
    reading = classify(exc, secrets)
    if reading.cause in ADVICE:
        # What happened and what to do, without the server's raw reply (kept in the
        # native error, the ``__cause__``, for ``--debug``).
        answered = " ".join(str(part) for part in (reading.status, reading.code) if part)
        message = f"{where}: {ADVICE[reading.cause]}" + (f" (HTTP {answered})" if answered else "")
        if reading.cause == "denied" and credentials:
            message += f"; credentials from {credentials}"
    else:
        message = f"{where}: {reading.reason}"
    kind = ConfigurationError if configuring else reading.kind
    return kind(message, path=path)
