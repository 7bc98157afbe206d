"""The one exception tree of storeroom.

Every backend maps its native errors into this tree at exactly one place,
with ``raise ... from exc``, so callers catch storeroom errors and nothing else::

    StorageError                       any storeroom failure (has .code, .path)
    ├── NotFound                       also a FileNotFoundError
    ├── AlreadyExists                  also a FileExistsError   (mode="create")
    ├── PreconditionFailed             an IfMatch etag moved, or the key is gone
    ├── InvalidPath                    also a ValueError        (storeroom.paths)
    ├── PermissionDenied               also a PermissionError
    ├── NotSupported                   the backend cannot do this safely
    ├── FolderNotEmpty                 a folder to remove still holds something
    ├── IntegrityError                 bytes do not match their recorded hash
    ├── ConfigurationError             also a ValueError: bad URL, scheme or option
    ├── OutcomeUnknown                 a write may or may not have landed: read to know
    └── BackendUnavailable             transient: retried with backoff first

Each class has a stable machine-readable ``code`` (``"not_found"``, ...), which
``FileStore`` and ``ArtifactStore`` put into ``StorageResult.metadata["code"]``.
Messages never contain secrets: URLs are masked by :func:`storeroom.options.mask`
before they reach an error.
"""

from __future__ import annotations

__all__ = [
    "AlreadyExists",
    "BackendUnavailable",
    "ConfigurationError",
    "FolderNotEmpty",
    "IntegrityError",
    "InvalidPath",
    "NotFound",
    "NotSupported",
    "OutcomeUnknown",
    "PermissionDenied",
    "PreconditionFailed",
    "StorageError",
]


class StorageError(Exception):
    """Base of every storeroom error.

    Args:
        message: what went wrong, for a person.
        path: the key involved, if any.
    """

    code = "storage_error"
    #: True when trying again later may succeed.
    transient = False

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def __str__(self) -> str:
        return self.message


class NotFound(StorageError, FileNotFoundError):
    """The key (or artifact, version, alias) does not exist."""

    code = "not_found"


class AlreadyExists(StorageError, FileExistsError):
    """A ``mode="create"`` write found the key already there."""

    code = "already_exists"


class PreconditionFailed(StorageError):
    """An ``IfMatch`` write found another etag, or no object at all."""

    code = "precondition_failed"


class InvalidPath(StorageError, ValueError):
    """A key breaks the rules of :mod:`storeroom.paths`."""

    code = "invalid_path"


class PermissionDenied(StorageError, PermissionError):
    """The backend refused access."""

    code = "permission_denied"


class NotSupported(StorageError):
    """The backend cannot do this, or cannot do it safely."""

    code = "not_supported"


class FolderNotEmpty(StorageError):
    """A folder to remove still holds objects or folders (remove those first)."""

    code = "folder_not_empty"


class IntegrityError(StorageError):
    """Stored bytes do not match the hash recorded for them."""

    code = "integrity_error"


class ConfigurationError(StorageError, ValueError):
    """A URL, scheme or option is not understood."""

    code = "configuration_error"


class OutcomeUnknown(StorageError):
    """A conditional write was sent, its answer was lost, and whether it landed cannot be known.

    Not transient: repeating the write blindly could apply it twice (an append
    appended twice). Read the object to see whether the change is there.
    """

    code = "outcome_unknown"


class BackendUnavailable(StorageError):
    """The backend did not answer, or answered with a transient failure."""

    code = "backend_unavailable"
    transient = True
