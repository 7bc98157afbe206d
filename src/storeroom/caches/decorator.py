"""``@cached(cache, ttl=..., key=...)``: cache an async function's results.

For users coming from aiocache's ``@cached`` and cashews' ``@cache``, with
nothing hidden: the decorator returns a :class:`CachedFunction`, a plain
object that holds the function, the cache and the key rule, and that also
offers ``key_for(...)`` and ``invalidate(...)``::

    @cached(cache, ttl=60)
    async def profile(user_id: int) -> dict[str, str]: ...

    await profile(7)             # runs once, then served from the cache
    await profile.invalidate(7)  # the next call runs again

Concurrent calls with the same key share one run (single flight). ``None``
results are cached like any other; exceptions are never cached.
``invalidate()`` while a run is in flight makes that run's result
uncacheable (:meth:`SingleFlight.store`): the caller still gets it, the cache
never keeps it, and the next call runs again.

The default key is ``module.qualname(args, kwargs)`` from ``repr`` of the
arguments, replaced by its SHA-256 when longer than 200 characters; pass
``key=`` when ``repr`` is not stable (objects that show their ``id``).
"""

from __future__ import annotations

import functools
import hashlib
import types
from collections.abc import Awaitable, Callable
from typing import Any, Generic, ParamSpec, TypeVar

from .base import DEFAULT_TTL, MISSING, Cache
from .flight import SingleFlight

__all__ = ["CachedFunction", "cached"]

_P = ParamSpec("_P")
_R = TypeVar("_R")

_MAX_PLAIN_KEY = 200


class CachedFunction(Generic[_P, _R]):
    """An async function whose results are cached in ``cache`` (see :func:`cached`)."""

    __name__: str
    __qualname__: str
    __wrapped__: Callable[_P, Awaitable[_R]]

    def __init__(
        self,
        func: Callable[_P, Awaitable[_R]],
        cache: Cache,
        *,
        ttl: float | None = DEFAULT_TTL,
        key: Callable[_P, str] | None = None,
    ) -> None:
        self.func = func
        self.cache = cache
        self.ttl = ttl
        self._key = key
        self._name = f"{func.__module__}.{func.__qualname__}"
        self._flight: SingleFlight[str, _R] = SingleFlight()
        functools.update_wrapper(self, func)

    def __repr__(self) -> str:
        return f"<cached {self._name} in {self.cache!r}>"

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        """Bind like a function, so methods can be decorated too."""
        return self if instance is None else types.MethodType(self, instance)

    def key_for(self, *args: _P.args, **kwargs: _P.kwargs) -> str:
        """The cache key of a call with these arguments."""
        if self._key is not None:
            return self._key(*args, **kwargs)
        plain = f"{self._name}({args!r}, {sorted(kwargs.items())!r})"
        if len(plain) <= _MAX_PLAIN_KEY:
            return plain
        digest = hashlib.sha256(plain.encode("utf-8", "backslashreplace")).hexdigest()
        return f"{self._name}#{digest}"

    async def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        key = self.key_for(*args, **kwargs)
        found = await self.cache.get(key, MISSING)
        if found is not MISSING:
            result: _R = found
            return result

        async def compute() -> _R:
            value = await self.func(*args, **kwargs)
            await self._flight.store(key, self.cache, key, value, self.ttl)
            return value

        return await self._flight.run(key, compute)

    async def invalidate(self, *args: _P.args, **kwargs: _P.kwargs) -> None:
        """Drop the cached result of a call with these arguments."""
        key = self.key_for(*args, **kwargs)
        self._flight.forget(key)  # a run in flight must not cache what it computed
        await self.cache.delete(key)


def cached(
    cache: Cache,
    *,
    ttl: float | None = DEFAULT_TTL,
    key: Callable[..., str] | None = None,
) -> Callable[[Callable[_P, Awaitable[_R]]], CachedFunction[_P, _R]]:
    """Cache the results of the decorated async function in ``cache``.

    Args:
        cache: any storeroom :class:`~storeroom.caches.Cache`.
        ttl: seconds each result is kept (``0`` or ``None``: no expiry).
        key: builds the key from the call's arguments (default: see the module).
    """

    def decorate(func: Callable[_P, Awaitable[_R]]) -> CachedFunction[_P, _R]:
        return CachedFunction(func, cache, ttl=ttl, key=key)

    return decorate
