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

Across processes, pass ``lock=StampedeLock(redis_cache)``
(:mod:`.stampede`): when many processes miss one key, one computes and the
others wait for its result. ``stale=`` seconds turns on
serve-stale-while-revalidate: an entry past its ``ttl`` is still returned
for that long while one background run refreshes it (entries are then
stored as ``{"\x00fresh": until, "v": value}``). ``jitter=0.1`` spreads each
entry's ``ttl`` by up to +-10 % so entries made together do not all expire
together.

The default key is ``module.qualname(args, kwargs)`` from ``repr`` of the
arguments as the signature binds them (defaults filled in: ``f(1)``,
``f(x=1)`` and ``f(1, y=2)`` with ``y=2`` the default are one call), replaced
by its SHA-256 when longer than 200 characters; pass ``key=`` when ``repr`` is
not stable (objects that show their ``id``). A function that captures
variables (one made by a factory, ``make(2)`` and ``make(3)``) also gets a
token of its own: its results are never another's, and not shared with other
processes. A decorated method binds like a function: ``obj.method.invalidate(x)``
drops ``obj.method(x)``.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from .base import DEFAULT_TTL, MISSING, Cache
from .flight import SingleFlight

if TYPE_CHECKING:
    from .stampede import StampedeLock

__all__ = ["CachedFunction", "cached"]

_P = ParamSpec("_P")
_R = TypeVar("_R")

_MAX_PLAIN_KEY = 200
_FRESH = "\x00fresh"


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
        lock: StampedeLock | None = None,
        stale: float | None = None,
        jitter: float = 0.0,
    ) -> None:
        if stale is not None and (stale <= 0 or not ttl):
            raise ValueError("stale needs a ttl and must be > 0 seconds")
        if not 0 <= jitter < 1:
            raise ValueError("jitter is a fraction of the ttl: 0 <= jitter < 1")
        self.func = func
        self.cache = cache
        self.ttl = ttl
        self.lock = lock
        self.stale = stale
        self.jitter = jitter
        self._refreshing: set[asyncio.Task[Any]] = set()
        self._key = key
        self._name = f"{func.__module__}.{func.__qualname__}"
        if getattr(func, "__closure__", None):  # one factory's functions share a qualname
            self._name += f"#{secrets.token_hex(4)}"
        self._signature = _signature(func)
        self._defaults = _positional_defaults(self._signature)
        self._flight: SingleFlight[str, _R] = SingleFlight()
        functools.update_wrapper(self, func)

    def __repr__(self) -> str:
        return f"<cached {self._name} in {self.cache!r}>"

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        """Bind like a function, so methods can be decorated too (``key_for`` and
        ``invalidate`` of ``obj.method`` bind ``obj`` as well)."""
        return self if instance is None else _BoundCached(self, instance)

    def key_for(self, *args: _P.args, **kwargs: _P.kwargs) -> str:
        """The cache key of a call with these arguments."""
        if self._key is not None:
            return self._key(*args, **kwargs)
        defaults = self._defaults
        if defaults is not None and not kwargs and len(args) <= len(defaults):
            # Every parameter by position (the common call): fill in the defaults
            # without binding, which would cost most of a cache hit.
            rest = defaults[len(args) :]
            if not any(default is _EMPTY for default in rest):
                args = (*args, *rest)  # type: ignore[assignment]
        elif self._signature is not None:
            try:
                bound = self._signature.bind(*args, **kwargs)
            except TypeError:
                pass  # the call itself says what is wrong
            else:
                bound.apply_defaults()
                args, kwargs = bound.args, bound.kwargs  # type: ignore[assignment]
        plain = f"{self._name}({args!r}, {sorted(kwargs.items())!r})"
        if len(plain) <= _MAX_PLAIN_KEY:
            return plain
        digest = hashlib.sha256(plain.encode("utf-8", "backslashreplace")).hexdigest()
        return f"{self._name}#{digest}"

    async def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        key = self.key_for(*args, **kwargs)
        found = await self.cache.get(key, MISSING)
        if found is not MISSING:
            value, fresh = self._unwrap(found)
            if not fresh and key not in self._flight:
                self._refresh(key, lambda: self.func(*args, **kwargs))
            return value
        return await self._flight.run(key, lambda: self._compute(key, args, kwargs))

    async def _compute(self, key: str, args: Any, kwargs: Any) -> _R:
        """Run the function once (across processes with a lock) and store its result."""

        async def compute() -> _R:
            value = await self.func(*args, **kwargs)
            await self._flight.store(key, self.cache, key, *self._entry(value))
            return value

        if self.lock is None:
            return await compute()

        async def lookup() -> Any:
            found = await self.cache.get(key, MISSING)
            return found if found is MISSING else self._unwrap(found)[0]

        return await self.lock.run(key, lookup, compute)

    def _refresh(self, key: str, call: Callable[[], Awaitable[_R]]) -> None:
        """Recompute a stale entry in the background (one run per key)."""

        async def again() -> _R:
            value = await call()
            await self._flight.store(key, self.cache, key, *self._entry(value))
            return value

        task = asyncio.ensure_future(self._flight.run(key, again))
        self._refreshing.add(task)
        task.add_done_callback(self._refreshed)

    def _refreshed(self, task: asyncio.Task[Any]) -> None:
        self._refreshing.discard(task)
        if not task.cancelled():
            task.exception()  # a failed refresh leaves the stale entry; the next call retries

    def _entry(self, value: _R) -> tuple[Any, float | None]:
        """What to store for ``value`` and for how long (jitter and the stale window added)."""
        from .stampede import jittered  # (light: no Redis import at module load)

        ttl = jittered(self.ttl, self.jitter)
        if self.stale is None or not ttl:
            return value, ttl
        return {_FRESH: time.time() + ttl, "v": value}, ttl + self.stale

    def _unwrap(self, found: Any) -> tuple[_R, bool]:
        """The value of a stored entry, and whether it is still fresh."""
        if self.stale is not None and isinstance(found, dict) and _FRESH in found:
            value: _R = found["v"]
            return value, time.time() < found[_FRESH]
        return found, True

    async def invalidate(self, *args: _P.args, **kwargs: _P.kwargs) -> None:
        """Drop the cached result of a call with these arguments."""
        key = self.key_for(*args, **kwargs)
        self._flight.forget(key)  # a run in flight must not cache what it computed
        await self.cache.delete(key)


def _signature(func: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(func)
    except (TypeError, ValueError):  # (a builtin without one)
        return None


_EMPTY = inspect.Parameter.empty
_BY_POSITION = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _positional_defaults(signature: inspect.Signature | None) -> tuple[Any, ...] | None:
    """Each parameter's default (``_EMPTY`` if none) when every parameter can be
    given by position, else None (then calls are bound to the signature)."""
    if signature is None:
        return None
    parameters = signature.parameters.values()
    if any(parameter.kind not in _BY_POSITION for parameter in parameters):
        return None
    return tuple(parameter.default for parameter in parameters)


class _BoundCached:
    """A cached method of one object: calls, keys and invalidations bind it."""

    __slots__ = ("__func__", "__self__")

    def __init__(self, function: CachedFunction[..., Any], instance: object) -> None:
        self.__func__ = function
        self.__self__ = instance

    def __call__(self, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        return self.__func__(self.__self__, *args, **kwargs)

    def key_for(self, *args: Any, **kwargs: Any) -> str:
        return self.__func__.key_for(self.__self__, *args, **kwargs)

    async def invalidate(self, *args: Any, **kwargs: Any) -> None:
        await self.__func__.invalidate(self.__self__, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:  # cache, ttl, __wrapped__, ...
        return getattr(self.__func__, name)


def cached(
    cache: Cache,
    *,
    ttl: float | None = DEFAULT_TTL,
    key: Callable[..., str] | None = None,
    lock: StampedeLock | None = None,
    stale: float | None = None,
    jitter: float = 0.0,
) -> Callable[[Callable[_P, Awaitable[_R]]], CachedFunction[_P, _R]]:
    """Cache the results of the decorated async function in ``cache``.

    Args:
        cache: any storeroom :class:`~storeroom.caches.Cache`.
        ttl: seconds each result is kept (``0`` or ``None``: no expiry).
        key: builds the key from the call's arguments (default: see the module).
        lock: a :class:`~.stampede.StampedeLock`: one computation per key
            across processes.
        stale: seconds an expired result is still served while it is refreshed.
        jitter: spread each ``ttl`` by up to this fraction (``0.1``: +-10 %).
    """

    def decorate(func: Callable[_P, Awaitable[_R]]) -> CachedFunction[_P, _R]:
        return CachedFunction(
            func, cache, ttl=ttl, key=key, lock=lock, stale=stale, jitter=jitter
        )

    return decorate
