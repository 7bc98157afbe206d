"""One table of URL schemes, and the four factories built on it.

``provider(url)`` picks the backend from the scheme; ``files``, ``artifacts``
and ``cache`` wrap it. Each table entry names a class (imported only when its
scheme is used, so ``memory://`` never loads a cloud SDK) with a
``from_url(url, **options)`` classmethod. Options come as query parameters or
keyword arguments (keywords win); each class rejects options it does not know
with a :class:`~storeroom.errors.ConfigurationError` that lists the known ones.

Secrets never leave this module unmasked: :func:`mask` is applied to every URL
that reaches an error message or a ``repr``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import ConfigurationError
from .options import WINDOWS_DRIVE, mask

if TYPE_CHECKING:
    from .artifactstore import ArtifactStore
    from .caches.base import Cache
    from .files import FileStore
    from .providers.base import Provider

__all__ = [
    "CACHE_SCHEMES",
    "PROVIDER_SCHEMES",
    "artifacts",
    "cache",
    "files",
    "provider",
]

#: Storage schemes: scheme -> "module:Class" (the class has ``from_url``).
PROVIDER_SCHEMES: dict[str, str] = {
    "file": "storeroom.providers.local:LocalProvider",
    "memory": "storeroom.providers.memory:MemoryProvider",
    "s3": "storeroom.providers.object.s3:S3Provider",
    "az": "storeroom.providers.object.azure:AzureProvider",
    "azure": "storeroom.providers.object.azure:AzureProvider",
    "gs": "storeroom.providers.object.gcs:GCSProvider",
}

#: Cache schemes: scheme -> "module:Class" (the class has ``from_url``).
CACHE_SCHEMES: dict[str, str] = {
    "memory": "storeroom.caches.memory:MemoryCache",
    "redis": "storeroom.caches.redis:RedisCache",
    "rediss": "storeroom.caches.redis:RedisCache",
    "redis+cluster": "storeroom.caches.redis:RedisCache",
    "rediss+cluster": "storeroom.caches.redis:RedisCache",
    "redis+sentinel": "storeroom.caches.redis:RedisCache",
    "rediss+sentinel": "storeroom.caches.redis:RedisCache",
    "none": "storeroom.caches.noop:NoOpCache",
}

def _scheme_of(url: str) -> str:
    if "://" not in url or WINDOWS_DRIVE.match(url):
        return "file"
    return url.split("://", 1)[0].lower()


def _load(table: dict[str, str], url: str, kind: str) -> Any:
    scheme = _scheme_of(url)
    target = table.get(scheme)
    if target is None:
        known = ", ".join(f"{name}://" for name in sorted(table))
        raise ConfigurationError(
            f"unknown {kind} scheme {scheme + '://'!r} in {mask(url)!r}; known: {known}"
        )
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def provider(url: str, **options: Any) -> Provider:
    """The storage provider for ``url``.

    A plain path or ``file://`` is a local folder, ``memory://`` a fresh
    in-memory store; cloud schemes are listed in :data:`PROVIDER_SCHEMES`.

    Raises:
        ConfigurationError: unknown scheme or option (the message lists the known ones).
    """
    built: Provider = _load(PROVIDER_SCHEMES, url, "storage").from_url(url, **options)
    return built


def files(url: str, **options: Any) -> FileStore:
    """A :class:`~storeroom.files.FileStore` on the provider for ``url``."""
    from .files import FileStore

    return FileStore(provider(url, **options))


def artifacts(url: str, **options: Any) -> ArtifactStore:
    """An :class:`~storeroom.artifactstore.ArtifactStore` on the provider for ``url``."""
    from .artifactstore import ArtifactStore

    return ArtifactStore(provider(url, **options))


def cache(url: str, **options: Any) -> Cache:
    """The cache for ``url``: ``memory://``, ``redis://host:port/db`` or ``none://``."""
    built: Cache = _load(CACHE_SCHEMES, url, "cache").from_url(url, **options)
    return built
