"""The one place where obstore's errors become storeroom's.

:meth:`~storeroom.providers.object.store.ObjectStoreProvider._mapped` catches
what :func:`is_native` recognises and raises :func:`storage_error` of it with
``raise ... from exc``. Secrets are scrubbed from the native text, in the
native exception too, so that no traceback shows them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

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

__all__ = ["is_native", "storage_error"]

_NATIVE_ERRORS = (native.BaseError, FileNotFoundError, PermissionError)
# Transient failures in obstore's text (URLs removed first, so keys never match):
# 5xx/429 answers, and connections that failed, timed out or broke off mid-body.
_TRANSIENT = re.compile(
    r"status(?: code)?: (?:5\d\d|429)\b|kind: (?:Timeout|Connect|Interrupted)\b|"
    r"error sending request|timed ?out|connection (?:reset|refused|closed|aborted)|"
    r"broken pipe|unexpected ?eof|incomplete ?body",
    re.IGNORECASE,
)
_URL = re.compile(r"\bhttps?://\S+")
# Checked in this order: the first class that matches wins.
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


def is_native(exc: BaseException) -> bool:
    """An error of obstore, or a panic in its Rust code (raised by its async runtime)."""
    return isinstance(exc, _NATIVE_ERRORS) or type(exc).__module__ == "pyo3_async_runtimes"


def storage_error(
    exc: BaseException,
    where: str,
    *,
    path: str | None,
    secrets: Sequence[str],
    configuring: bool = False,
) -> StorageError:
    """The storeroom error for the native ``exc`` raised while doing ``where``.

    Args:
        exc: the native error; its text is scrubbed of ``secrets`` in place.
        where: the operation and the provider, for the message (already masked).
        path: the key involved, if any.
        secrets: credential values that must not appear in any text.
        configuring: the error came from building the store: a ``ConfigurationError``.
    """
    text = str(exc)
    for secret in secrets:
        text = text.replace(secret, "***")
    exc.args = (text,)
    reason = text.split("\n\nDebug source", 1)[0].strip().splitlines()
    message = f"{where}: {(reason[0] if reason else type(exc).__name__)[:300]}"
    kind: type[StorageError] = ConfigurationError if configuring else StorageError
    if not configuring:
        for candidate, natives in _KINDS:
            if isinstance(exc, natives):
                kind = candidate
                break
        else:
            if _TRANSIENT.search(_URL.sub("<url>", text)):
                kind = BackendUnavailable
    return kind(message, path=path)
