"""storeroom: one async API for files, versioned artifacts and caches."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# The ``cache`` and ``artifacts`` packages are loaded before the factories of the
# same names are bound below: a package loaded later would replace the factory.
from . import artifacts as _artifacts_package  # noqa: F401
from . import cache as _cache_package  # noqa: F401
from .artifacts import ArtifactStore
from .cache import MISSING, CachedProvider, MemoryCache, NoOpCache, cached
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
from .providers.base import Capabilities, GetResult, IfMatch, Listing, ObjectMeta, Provider
from .providers.local import LocalProvider
from .providers.memory import MemoryProvider
from .urls import artifacts, cache, files, provider

if TYPE_CHECKING:
    from .cache.redis import RedisCache
    from .providers.azure import AzureProvider
    from .providers.gcs import GCSProvider
    from .providers.s3 import S3Provider

# Names whose modules load a client library (redis, obstore): imported on first use.
_LAZY = {
    "RedisCache": "storeroom.cache.redis",
    "S3Provider": "storeroom.providers.s3",
    "AzureProvider": "storeroom.providers.azure",
    "GCSProvider": "storeroom.providers.gcs",
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
    "PermissionDenied",
    "PreconditionFailed",
    "Provider",
    "RedisCache",
    "S3Provider",
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
