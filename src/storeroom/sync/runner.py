"""The one background event loop per process, and how a blocking call uses it.

How it keeps its promises:

- **No thread hop when none is needed.** :func:`run` first steps the coroutine
  in the caller's own thread. A coroutine that finishes without suspending (a
  small read of a local file, a memory store, a memory cache) never touches
  the background loop; one that suspends (an object store's request, a thread
  for a large file) is handed, half-run, to the loop as a task, and the
  caller waits for its result.
- **Atomic between awaits, as async code expects.** The async objects assume
  that code between two ``await`` runs alone. A process-wide mutex makes it
  so: the loop's thread holds it for everything except waiting in
  ``select()`` (see :class:`_Selector`), and a caller holds it for the step it
  runs inline. So while a caller steps a coroutine, the loop is parked in
  ``select()`` and the caller may schedule callbacks, timers, tasks and
  readers on it; the loop is then woken (:meth:`_Loop.call_soon` notes a call
  from another thread).
- **Jupyter.** The caller's thread may already run a loop: during the inline
  step the background loop is made the thread's running loop, and the
  caller's is put back after it.
- **Many threads.** Steps of different callers take turns on the mutex;
  suspended coroutines run concurrently on the loop.
- **fork.** The child forgets the parent's runner (``os.register_at_fork``);
  its first call starts a fresh loop in a fresh thread, with a fresh mutex
  (the parent's might have been held at the fork).
- **Never a deadlock.** A call from the loop's own thread, or from inside an
  inline step (a callback of storeroom's async code), would wait on itself:
  it raises :class:`LoopThreadError` instead.
"""

from __future__ import annotations

import asyncio
import os
import selectors
import threading
from collections.abc import Coroutine, Generator
from concurrent.futures import Future
from typing import Any, TypeVar

__all__ = ["LoopThreadError", "Runner", "generation", "run", "runner"]

_T = TypeVar("_T")


class LoopThreadError(RuntimeError):
    """A blocking call made where it would wait on itself (the loop's own thread)."""


class _Selector(selectors.BaseSelector):
    """The loop's selector: it gives the mutex away while it waits for events."""

    def __init__(self, mutex: threading.Lock) -> None:
        self._inner = selectors.DefaultSelector()
        self._mutex = mutex

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._inner.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.modify(fileobj, events, data)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        self._mutex.release()
        try:
            return self._inner.select(timeout)
        finally:
            self._mutex.acquire()

    def close(self) -> None:
        self._inner.close()

    def get_map(self) -> Any:
        return self._inner.get_map()


class _Loop(asyncio.SelectorEventLoop):
    """A selector loop that notices work scheduled on it by an inline step."""

    def __init__(self, mutex: threading.Lock) -> None:
        super().__init__(_Selector(mutex))
        self.owner = 0  # the ident of the loop's thread
        self.scheduled_from_outside = False

    def call_soon(  # type: ignore[override]
        self, callback: Any, *args: Any, context: Any = None
    ) -> asyncio.Handle:
        if threading.get_ident() != self.owner:
            self.scheduled_from_outside = True
        return super().call_soon(callback, *args, context=context)

    def call_at(  # type: ignore[override]
        self, when: float, callback: Any, *args: Any, context: Any = None
    ) -> asyncio.TimerHandle:
        if threading.get_ident() != self.owner:
            self.scheduled_from_outside = True
        return super().call_at(when, callback, *args, context=context)


def _noop() -> None:
    """Scheduled thread-safely to wake the loop out of ``select()``."""


class _Continue:
    """Awaitable that takes over a coroutine already suspended once at ``first``."""

    def __init__(self, coro: Coroutine[Any, Any, Any], first: Any) -> None:
        self._coro = coro
        self._first = first

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, value = self._coro, self._first
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # passed into the coroutine
                try:
                    value = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


async def _resume(coro: Coroutine[Any, Any, _T], first: Any) -> _T:
    result: _T = await _Continue(coro, first)
    return result


class Runner:
    """A background event loop in a daemon thread, and the mutex it shares."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.mutex = threading.Lock()
        self.loop = _Loop(self.mutex)
        self.loop.set_debug(False)  # debug mode forbids the inline steps' scheduling
        self._local = threading.local()
        started = threading.Event()
        self.thread = threading.Thread(
            target=self._main, args=(started,), name="storeroom-sync", daemon=True
        )
        self.thread.start()
        started.wait()

    def _main(self, started: threading.Event) -> None:
        self.mutex.acquire()
        self.loop.owner = threading.get_ident()
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(started.set)
        try:
            self.loop.run_forever()
        finally:
            self.mutex.release()

    def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coro`` to completion and return its result (or raise its error)."""
        if threading.get_ident() == self.loop.owner or getattr(self._local, "stepping", False):
            coro.close()
            raise LoopThreadError(
                "storeroom.sync was called from the thread of its own event loop "
                "(from async code storeroom is running); await the async API there instead"
            )
        loop = self.loop
        events = asyncio.events
        with self.mutex:
            previous = events._get_running_loop()
            events._set_running_loop(loop)
            self._local.stepping = True
            loop.scheduled_from_outside = False
            try:
                first = coro.send(None)
            except StopIteration as stop:
                result: _T = stop.value
                return result
            finally:
                self._local.stepping = False
                events._set_running_loop(previous)
                if loop.scheduled_from_outside:
                    loop.call_soon_threadsafe(_noop)
            future: Future[_T] = asyncio.run_coroutine_threadsafe(_resume(coro, first), loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # Ctrl-C while waiting: cancel the task; it cleans up
            raise


_runner: Runner | None = None
_lock = threading.Lock()
_generation = 0


def generation() -> int:
    """A number that changes in a forked child: objects made before it are the parent's."""
    return _generation


def runner() -> Runner:
    """This process's runner, started on first use (again in a forked child)."""
    global _runner
    current = _runner
    if current is not None and current.pid == os.getpid():
        return current
    with _lock:
        if _runner is None or _runner.pid != os.getpid():
            _runner = Runner()
        return _runner


def run(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coro`` on this process's runner (see :class:`Runner.run`)."""
    return runner().run(coro)


def _forget_in_child() -> None:
    global _runner, _lock, _generation
    _runner = None
    _generation += 1
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_in_child)
