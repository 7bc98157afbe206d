"""storeroom: one async API for files, versioned artifacts and caches."""

from __future__ import annotations

from .errors import (
    AlreadyExists,
    BackendUnavailable,
    ConfigurationError,
    IntegrityError,
    InvalidPath,
    NotFound,
    NotSupported,
    PermissionDenied,
    PreconditionFailed,
    StorageError,
)
from .interfaces import (
    ArtifactStorage,
    CacheBackend,
    FileInfo,
    FileStorage,
    StorageBackend,
    StorageProvider,
    StorageResult,
)
from .providers.base import Capabilities, GetResult, IfMatch, Listing, ObjectMeta, Provider
from .providers.memory import MemoryProvider
from .urls import artifacts, cache, files, provider

__all__ = [
    "AlreadyExists",
    "ArtifactStorage",
    "BackendUnavailable",
    "CacheBackend",
    "Capabilities",
    "ConfigurationError",
    "FileInfo",
    "FileStorage",
    "GetResult",
    "IfMatch",
    "IntegrityError",
    "InvalidPath",
    "Listing",
    "MemoryProvider",
    "NotFound",
    "NotSupported",
    "ObjectMeta",
    "PermissionDenied",
    "PreconditionFailed",
    "Provider",
    "StorageBackend",
    "StorageError",
    "StorageProvider",
    "StorageResult",
    "artifacts",
    "cache",
    "files",
    "provider",
]
