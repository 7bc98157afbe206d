"""A stampede lock across processes: when many miss one key, one computes, the rest wait.

``SingleFlight`` (:mod:`.flight`) already makes the callers of one process
share one run. :class:`StampedeLock` does the same across processes and
machines through Redis:

- The first to miss takes a lease, ``SET <lease key> <token> NX PX <lease>``,
  looks at the cache once more (a holder may have stored the value and let
  go just before), computes, stores the result in the cache and releases the lease (deleted
  only if it still holds its token: a compare-and-delete script).
- While it computes, a task renews the lease every third of its length
  (compare-and-``PEXPIRE``), so a slow computation keeps it and a crashed
  process loses it within one lease.
- The others poll the cache (every ``poll`` seconds, growing to 8x) until
  the value appears, and take the lease themselves if it is released or
  expires without a value (the holder failed or died). After ``wait``
  seconds they stop waiting and compute, so no caller waits without bound.

The lease key lives in the cache's own namespace (``\\x00lease\\x00`` and
the key), so ``clear()`` removes leftovers. Commands the pipeline may send
twice after a reconnection stay harmless: a repeated ``SET NX`` that finds
its own lease only makes this caller wait for the value, a repeated
compare-and-delete deletes nothing more.

``ttl_jitter`` spreads the expiry of entries computed together.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .base import MISSING
from .redis import RedisCache

__all__ = ["StampedeLock", "jittered"]

_T = TypeVar("_T")

_RELEASE = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end "
    "return 0"
)
_RENEW = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
)


def jittered(ttl: float | None, jitter: float) -> float | None:
    """``ttl`` spread by up to ``jitter`` (a fraction: ``0.1`` is +-10 %), never below 1 ms."""
    if not ttl or not jitter:
        return ttl
    spread = random.uniform(-jitter, jitter)  # noqa: S311 - spreading expiry, not a secret
    return max(0.001, ttl * (1 + spread))


class StampedeLock:
    """One computation of a key at a time across processes, leased in ``redis``.

    Args:
        redis: the Redis cache whose namespace holds the leases.
        lease: seconds a lease lasts without renewal (renewed every third).
        wait: seconds a caller waits for another's result before computing itself.
        poll: first pause between looks at the cache while waiting (seconds).
    """

    def __init__(
        self, redis: RedisCache, *, lease: float = 10.0, wait: float = 30.0, poll: float = 0.02
    ) -> None:
        if lease <= 0 or wait < 0 or poll <= 0:
            raise ValueError("lease and poll must be > 0 and wait >= 0")
        self.redis = redis
        self.lease = lease
        self.wait = wait
        self.poll = poll
        #: Computations run here, and results taken from another's computation.
        self.computed = self.waited = 0

    def __repr__(self) -> str:
        return f"StampedeLock({self.redis!r}, lease={self.lease:g}, wait={self.wait:g})"

    async def run(
        self,
        key: str,
        lookup: Callable[[], Awaitable[Any]],
        compute: Callable[[], Awaitable[_T]],
    ) -> _T:
        """``lookup()`` if another process computes ``key`` meanwhile, else ``compute()`` here.

        ``lookup`` returns the cached value or :data:`MISSING`; ``compute``
        computes and stores the value.
        """
        lease_key = "\x00lease\x00" + key
        token = uuid.uuid4().hex
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait
        pause = self.poll
        while True:
            if await self._acquire(lease_key, token):
                found = await lookup()  # stored by a holder that has just let go?
                if found is MISSING:
                    return await self._compute_holding(lease_key, token, compute)
                await self._release(lease_key, token)
                self.waited += 1
                result: _T = found
                return result
            found = await lookup()
            if found is not MISSING:
                self.waited += 1
                result = found
                return result
            if loop.time() >= deadline:
                self.computed += 1
                return await compute()  # waited enough: never without bound
            await asyncio.sleep(min(pause, max(0.0, deadline - loop.time())))
            pause = min(pause * 2, self.poll * 8)

    async def _acquire(self, lease_key: str, token: str) -> bool:
        millis = max(1, round(self.lease * 1000))
        lease = self.redis.key(lease_key)
        reply = await self.redis.execute("SET", lease, token, "NX", "PX", millis)
        return _ok(reply)

    async def _compute_holding(
        self, lease_key: str, token: str, compute: Callable[[], Awaitable[_T]]
    ) -> _T:
        renewal = asyncio.ensure_future(self._renew(lease_key, token))
        try:
            self.computed += 1
            return await compute()
        finally:
            renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewal
            await asyncio.shield(self._release(lease_key, token))

    async def _release(self, lease_key: str, token: str) -> None:
        await self.redis.execute("EVAL", _RELEASE, 1, self.redis.key(lease_key), token)

    async def _renew(self, lease_key: str, token: str) -> None:
        millis = max(1, round(self.lease * 1000))
        while True:
            await asyncio.sleep(self.lease / 3)
            await self.redis.execute("EVAL", _RENEW, 1, self.redis.key(lease_key), token, millis)


def _ok(reply: Any) -> bool:
    """Whether a ``SET ... NX`` reply says the key was set (``OK``)."""
    return reply in (b"OK", "OK", True)
