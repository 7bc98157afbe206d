"""The base of every synchronous object: it holds an async one and runs its calls.

How it keeps its promises:

- **Same behaviour, same errors.** Each method of a facade (generated in
  ``api.py``) builds the async method's coroutine and hands it to
  :func:`~storeroom.sync.runner.run`; results and exceptions come back as
  they are.
- **fork.** A facade made by a factory knows how to build its async object
  again (``reopen``). In a forked child the first call builds a fresh one, so
  the child never uses the parent's connections or clients; the parent's
  object is left untouched. An object store the child cannot use (obstore's
  runtime does not survive fork) is refused with a clear error, never a hang
  (``forkcheck.py``). ``memory://`` objects are carried into the child
  as fork copied them (they hold no connection, and rebuilding one would
  empty it).
- **Closing.** ``close()``, or leaving a ``with`` block, closes what the
  facade's factory opened; a facade made by :func:`~storeroom.sync.wrap`
  around an object it was handed closes nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from types import TracebackType
from typing import Any, Generic, TypeVar

from . import runner as runner_module
from .forkcheck import check_child

__all__ = ["Facade", "iterate"]

_A = TypeVar("_A")
_T = TypeVar("_T")
_F = TypeVar("_F", bound="Facade[Any]")


async def _next(source: AsyncIterator[_T]) -> _T:
    return await source.__anext__()


def iterate(source: AsyncIterator[_T]) -> Iterator[_T]:
    """An async iterator as a blocking one; it is closed when the loop ends early."""
    run = runner_module.run
    try:
        while True:
            try:
                item = run(_next(source))
            except StopAsyncIteration:
                return
            yield item
    finally:
        close = getattr(source, "aclose", None)
        if close is not None:
            run(close())


class Facade(Generic[_A]):
    """A synchronous face on the async object ``aio``.

    Args:
        aio: the async object whose methods run.
        reopen: builds the async object again in a forked child (``None``:
            the child keeps using ``aio``).
        closer: what ``close()`` runs (``None``: nothing to close).
    """

    def __init__(
        self,
        aio: _A,
        *,
        reopen: Callable[[], _A] | None = None,
        closer: Callable[[_A], Coroutine[Any, Any, None]] | None = None,
    ) -> None:
        self._aio = aio
        self._reopen = reopen
        self._closer = closer
        self._generation = runner_module.generation()

    def __repr__(self) -> str:
        return f"sync.{type(self).__name__}({self._aio!r})"

    @property
    def aio(self) -> _A:
        """The async object (in a forked child, a fresh one if it can be built again)."""
        if self._generation != runner_module.generation():
            if self._reopen is not None:
                self._aio = self._reopen()
            self._generation = runner_module.generation()
            check_child(self._aio)
        return self._aio

    def close(self) -> None:
        """Close what this facade's factory opened; calling it twice is harmless."""
        if self._closer is not None:
            runner_module.run(self._closer(self.aio))

    def __enter__(self: _F) -> _F:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
