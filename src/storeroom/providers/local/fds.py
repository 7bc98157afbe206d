"""File descriptors shared with worker threads: closed only by their last user.

A descriptor used by a thread must not be closed while that thread runs: the
number would be reused by the next ``open`` and the thread would then read
from (or write into) somebody else's file. ``asyncio.to_thread`` gives no
such guarantee: when the awaiting task is cancelled it returns at once while
the thread goes on. Every place where a local descriptor meets a thread
(:class:`~storeroom.providers.local.LocalProvider` and the CLI's plain local
files) therefore holds it as a :class:`SharedFd`:

- the code that opened it holds one reference and drops it with
  :meth:`SharedFd.close` (or ``with``);
- :meth:`SharedFd.run` takes one more reference for the thread it starts; the
  thread drops it when its work is done, and if the caller is cancelled before
  the thread even started, the caller drops it for the thread (the work then
  never runs);
- the descriptor is closed when the last reference is dropped, by whichever
  side that is. Cancelling the caller is still immediate.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["SharedFd", "in_thread", "use_and_close"]

_T = TypeVar("_T")


class SharedFd:
    """A descriptor closed by whoever uses it last (the opener or a worker thread)."""

    __slots__ = ("_lock", "_users", "fd")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._users = 1
        self._lock = threading.Lock()

    def __enter__(self) -> SharedFd:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _add_user(self) -> None:
        with self._lock:
            if self._users <= 0:
                raise ValueError("the descriptor is already closed")
            self._users += 1

    def close(self) -> None:
        """Drop one reference; the last one closes the descriptor."""
        with self._lock:
            self._users -= 1
            last = self._users == 0
        if last:
            os.close(self.fd)

    async def run(self, inline: bool, func: Callable[..., _T], *args: Any) -> _T:
        """``func(fd, *args)`` inline, or in a thread that keeps the fd open until it ends."""
        if inline:
            return func(self.fd, *args)
        self._add_user()
        return await in_thread(self.close, func, self.fd, *args)


async def in_thread(release: Callable[[], None], func: Callable[..., _T], *args: Any) -> _T:
    """Run ``func(*args)`` in a thread, then ``release()`` exactly once.

    ``release`` runs in the thread once ``func`` has returned or raised; if the
    caller is cancelled before the thread started, ``func`` never runs and the
    caller calls ``release`` itself.
    """
    lock = threading.Lock()
    state = {"started": False, "abandoned": False}

    def work() -> _T:
        with lock:
            if state["abandoned"]:
                raise asyncio.CancelledError
            state["started"] = True
        try:
            return func(*args)
        finally:
            release()

    try:
        return await asyncio.to_thread(work)
    except BaseException:
        with lock:
            never_ran = not state["started"]
            state["abandoned"] = never_ran
        if never_ran:
            release()
        raise


async def use_and_close(fd: int, inline: bool, func: Callable[..., _T], *args: Any) -> _T:
    """``func(fd, *args)``, inline or in a thread, then close ``fd`` (its last user does)."""
    if inline:
        try:
            return func(fd, *args)
        finally:
            os.close(fd)
    with SharedFd(fd) as shared:
        return await shared.run(False, func, *args)
