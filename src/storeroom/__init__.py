"""storeroom: one async API for files, versioned artifacts and caches."""

from __future__ import annotations

import importlib

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

#: ``typing`` is not imported at run time (it costs more than the rest of this module);
#: type checkers read this name as ``typing.TYPE_CHECKING``.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

    from .artifactstore import ArtifactStore
    from .caches import MISSING, MemoryCache, NoOpCache, cached
    from .caches.redis import RedisCache
    from .filestore import FileStore
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
    from .providers.object.azure import AzureProvider
    from .providers.object.gcs import GCSProvider
    from .providers.object.s3 import S3Provider
    from .urls import artifacts, cache, files, provider

# Everything but the errors is imported on first use (``import storeroom`` stays
# cheap: no asyncio, redis, obstore, msgpack until a name that needs them is used).
# ``from storeroom import X`` and type checkers see the same names as before.
_LAZY = {
    "ArtifactStore": "storeroom.artifactstore",
    "MISSING": "storeroom.caches",
    "MemoryCache": "storeroom.caches",
    "NoOpCache": "storeroom.caches",
    "cached": "storeroom.caches",
    "RedisCache": "storeroom.caches.redis",
    "FileStore": "storeroom.filestore",
    "ArtifactStorage": "storeroom.interfaces",
    "CacheBackend": "storeroom.interfaces",
    "FileInfo": "storeroom.interfaces",
    "FileStorage": "storeroom.interfaces",
    "StorageBackend": "storeroom.interfaces",
    "StorageProvider": "storeroom.interfaces",
    "StorageResult": "storeroom.interfaces",
    "Capabilities": "storeroom.providers.base",
    "GetResult": "storeroom.providers.base",
    "IfMatch": "storeroom.providers.base",
    "Listing": "storeroom.providers.base",
    "ObjectMeta": "storeroom.providers.base",
    "Provider": "storeroom.providers.base",
    "SkippedKey": "storeroom.providers.base",
    "CachedProvider": "storeroom.providers.cached",
    "LocalProvider": "storeroom.providers.local",
    "MemoryProvider": "storeroom.providers.memory",
    "S3Provider": "storeroom.providers.object.s3",
    "AzureProvider": "storeroom.providers.object.azure",
    "GCSProvider": "storeroom.providers.object.gcs",
    "artifacts": "storeroom.urls",
    "cache": "storeroom.urls",
    "files": "storeroom.urls",
    "provider": "storeroom.urls",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'storeroom' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


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
