"""Single flight: many concurrent callers of one key share one run of the work.

The first caller for a key starts the work as a task; callers that arrive
while it runs await the same task (shielded, so one caller's cancellation
never cancels the others' result). The key is freed when the work ends, so
the next call starts afresh. ``forget(key)`` frees it early: callers arriving
after that start a new run, and the old run can tell with ``is_current``.

:meth:`SingleFlight.store` is the one rule by which a run puts its result in
a cache (``@cached`` and ``CachedProvider`` both use it): only while the run is
still current, and if it stopped being current while the value was being
stored (an invalidation raced the ``set``), the entry is deleted again. So an
invalidation that lands while a run is in flight can never be followed by
that run's older value.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

from ..interfaces import CacheBackend

__all__ = ["SingleFlight"]

_K = TypeVar("_K", bound=Hashable)
_T = TypeVar("_T")


class SingleFlight(Generic[_K, _T]):
    """Deduplicates concurrent runs of the work for one key."""

    def __init__(self) -> None:
        self._running: dict[_K, asyncio.Task[_T]] = {}

    def __len__(self) -> int:
        """Keys with work in progress."""
        return len(self._running)

    def __contains__(self, key: object) -> bool:
        """Whether work for ``key`` is in progress."""
        return key in self._running

    async def run(self, key: _K, work: Callable[[], Awaitable[_T]]) -> _T:
        """The result of ``work()``, shared with every concurrent caller of ``key``."""
        task = self._running.get(key)
        if task is None:
            task = asyncio.ensure_future(work())
            self._running[key] = task
            task.add_done_callback(functools.partial(self._finished, key))
        return await asyncio.shield(task)

    def forget(self, key: _K) -> None:
        """Let the next caller of ``key`` start a new run, even if one is in progress."""
        self._running.pop(key, None)

    def is_current(self, key: _K) -> bool:
        """Whether the running task is still the registered run of ``key``."""
        task = self._running.get(key)
        return task is not None and task is asyncio.current_task()

    async def store(
        self, key: _K, cache: CacheBackend, cache_key: str, value: Any, ttl: float | None
    ) -> bool:
        """Cache ``value`` if the running task is still the current run of ``key``.

        Returns whether the entry was stored and still stands.
        """
        if not self.is_current(key):
            return False
        await cache.set(cache_key, value, ttl)  # type: ignore[arg-type]
        if self.is_current(key):
            return True
        await cache.delete(cache_key)  # forgotten while the set was under way
        return False

    def _finished(self, key: _K, task: asyncio.Task[_T]) -> None:
        if self._running.get(key) is task:
            del self._running[key]
        if not task.cancelled():
            task.exception()  # retrieved here: every waiter may have gone
