"""Caches behind the seed's ``CacheBackend``, and a decorator.

The read-through provider, :class:`~storeroom.providers.cached.CachedProvider`,
lives with the providers.

- :class:`MemoryCache` — LRU bound and TTL in process memory.
- :class:`RedisCache` — namespaced, safe serializer, automatic pipelining.
- :class:`TieredCache` — a near in-process copy of hot keys in front of a
  :class:`RedisCache`, kept correct by RESP3 invalidation pushes.
- :class:`NoOpCache` — caches nothing.
- :func:`cached` — caches an async function's results, with single flight.

``get(key, MISSING)`` tells a miss (:data:`MISSING`) from a cached ``None``;
``ttl=0`` or ``None`` means no expiry.

The Redis names (and msgpack) are imported on first use, so ``import
storeroom`` stays light for programs that never touch Redis.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .base import MISSING, Cache, CacheStats, Missing
from .decorator import CachedFunction, cached
from .memory import MemoryCache
from .noop import NoOpCache

if TYPE_CHECKING:
    from .redis import RedisCache
    from .serializers import MsgpackSerializer, Serializer, SignedPickleSerializer
    from .tiered import TieredCache

_LAZY = {
    "RedisCache": ".redis",
    "MsgpackSerializer": ".serializers",
    "Serializer": ".serializers",
    "SignedPickleSerializer": ".serializers",
    "TieredCache": ".tiered",
}

__all__ = [
    "MISSING",
    "Cache",
    "CacheStats",
    "CachedFunction",
    "MemoryCache",
    "Missing",
    "MsgpackSerializer",
    "NoOpCache",
    "RedisCache",
    "Serializer",
    "SignedPickleSerializer",
    "TieredCache",
    "cached",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
