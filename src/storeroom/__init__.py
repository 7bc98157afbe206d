"""storeroom: one async API for files, versioned artifacts and caches."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .artifactstore import ArtifactStore
from .caches import MISSING, MemoryCache, NoOpCache, cached
from .errors import (
    AlreadyExists,
    BackendUnavailable,
    ConfigurationError,
    FolderNotEmpty,
    IntegrityError,
    InvalidPath,
    NotFound,
    NotSupported,
    OutcomeUnknown,
    PermissionDenied,
    PreconditionFailed,
    StorageError,
)
from .files import FileStore
from .interfaces import (
    ArtifactStorage,
    CacheBackend,
    FileInfo,
    FileStorage,
    StorageBackend,
    StorageProvider,
    StorageResult,
)
from .providers.base import (
    Capabilities,
    GetResult,
    IfMatch,
    Listing,
    ObjectMeta,
    Provider,
    SkippedKey,
)
from .providers.cached import CachedProvider
from .providers.local import LocalProvider
from .providers.memory import MemoryProvider
from .urls import artifacts, cache, files, provider

if TYPE_CHECKING:
    from .caches.redis import RedisCache
    from .providers.object.azure import AzureProvider
    from .providers.object.gcs import GCSProvider
    from .providers.object.s3 import S3Provider

# Names whose modules load a client library (redis, obstore): imported on first use.
_LAZY = {
    "RedisCache": "storeroom.caches.redis",
    "S3Provider": "storeroom.providers.object.s3",
    "AzureProvider": "storeroom.providers.object.azure",
    "GCSProvider": "storeroom.providers.object.gcs",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'storeroom' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "MISSING",
    "AlreadyExists",
    "ArtifactStorage",
    "ArtifactStore",
    "AzureProvider",
    "BackendUnavailable",
    "CacheBackend",
    "CachedProvider",
    "Capabilities",
    "ConfigurationError",
    "FileInfo",
    "FileStorage",
    "FileStore",
    "FolderNotEmpty",
    "GCSProvider",
    "GetResult",
    "IfMatch",
    "IntegrityError",
    "InvalidPath",
    "Listing",
    "LocalProvider",
    "MemoryCache",
    "MemoryProvider",
    "NoOpCache",
    "NotFound",
    "NotSupported",
    "ObjectMeta",
    "OutcomeUnknown",
    "PermissionDenied",
    "PreconditionFailed",
    "Provider",
    "RedisCache",
    "S3Provider",
    "SkippedKey",
    "StorageBackend",
    "StorageError",
    "StorageProvider",
    "StorageResult",
    "artifacts",
    "cache",
    "cached",
    "files",
    "provider",
]
