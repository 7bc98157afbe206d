"""The ``Index`` protocol, and ``open_index(url)`` to pick an implementation.

An index is derived data: every row comes from a manifest or a head on the
store, which stays the one truth. ``ArtifactStore`` writes the store first and
tells its index after: :meth:`Index.submit` queues the change (a new version,
or the head a deletion, alias change or retention left) and one background
task per index writes what is queued in one transaction (:meth:`Index.record`),
so a store does not wait for the database and a burst of stores costs one
commit. Everything that reads the index in this process (``find``,
``list_artifacts``, ``reconcile``, ``aclose``) first waits for the queue
(:meth:`Index.flush`): a process always sees its own changes. A queued change
that cannot be written (the database is down, the loop ends first) marks the
index ``dirty``; it is then caught up from the store before it answers.

The catch-up path (:meth:`Index.apply` with snapshots read from the store, see
``sync.py``) writes the same rows, so any order of notifications and
catch-ups converges. Deleted numbers are remembered (they are never allocated
again), so a late notification cannot bring a deleted version back.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ..artifactstore.records import ArtifactVersion, Head
from ..errors import ConfigurationError, StorageError
from ..options import mask
from .query import Node
from .rows import Entry, Order

__all__ = ["INDEX_SCHEMES", "ArtifactState", "Change", "Index", "open_index"]

_log = logging.getLogger("storeroom.catalog")
#: What a store tells its index: a version stored, or the head a change left.
Change = ArtifactVersion | Head

#: Index schemes: scheme -> "module:Class" (the class has ``from_url``).
INDEX_SCHEMES: dict[str, str] = {
    "sqlite": "storeroom.catalog.sqlite:SQLiteIndex",
    "postgresql": "storeroom.catalog.postgres:PostgresIndex",
    "postgres": "storeroom.catalog.postgres:PostgresIndex",
}


@dataclass(frozen=True, slots=True)
class ArtifactState:
    """An artifact as read from the store: its head (probed past) and its live versions."""

    head: Head
    versions: tuple[ArtifactVersion, ...]


class Index(ABC):
    """Where ``find`` looks when the store has one. Implementations: SQLite, PostgreSQL.

    Attributes:
        source: ``"sqlite"`` or ``"postgresql"`` (``FindPage.source``).
        max_lag: seconds; ``find`` catches up from the store first when the
            watermark is older than this (``None``: only when never built).
        slack: seconds subtracted from a catch-up's start to form the next
            watermark (clock skew between machines and the store).
        dirty: this process failed to notify the index of a change it made,
            so the next ``find`` catches up first.
    """

    source = "index"

    def __init__(self, *, max_lag: float | None = None, slack: float = 60.0) -> None:
        self.max_lag = max_lag
        self.slack = slack
        self.dirty = False
        self._queue: list[Change] = []
        self._writer: asyncio.Task[None] | None = None

    def submit(self, change: Change) -> None:
        """Queue ``change`` (already written to the store); a background task records it."""
        self._queue.append(change)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_queue())

    async def _write_queue(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                await self.record(batch)
            except StorageError as exc:
                self.dirty = True
                _log.warning("could not update the catalog index %r (it will catch up): %s",
                             self, exc)
            except asyncio.CancelledError:  # the loop is ending: catch up next time
                self.dirty = True
                self._queue.clear()
                raise

    async def flush(self) -> None:
        """Wait until every change this process queued is recorded (or the index is dirty)."""
        writer = self._writer
        if writer is None or writer.done():
            if self._queue:  # left by a loop that ended before writing them
                self._queue.clear()
                self.dirty = True
            return
        if writer.get_loop() is not asyncio.get_running_loop():
            self._queue.clear()
            self.dirty = True
            return
        await asyncio.shield(writer)  # a cancelled reader must not cancel the writer

    async def stored(self, version: ArtifactVersion) -> None:
        """Record one stored version now (see :meth:`record`)."""
        await self.record([version])

    async def head_changed(self, head: Head) -> None:
        """Record one head now (see :meth:`record`)."""
        await self.record([head])
    @abstractmethod
    async def find(
        self, tree: Node | None, order: Order, limit: int, after: Sequence[Any] | None
    ) -> list[Entry]:
        """Up to ``limit`` entries matching ``tree``, after the sort key ``after``, in ``order``."""

    @abstractmethod
    async def listing(self, prefix: str) -> list[dict[str, Any]]:
        """``list_artifacts(prefix)``'s entries, from the index."""

    @abstractmethod
    async def record(self, changes: Sequence[Change]) -> None:
        """Record changes written to the store, in one transaction.

        A version: its rows (unless that number was deleted meanwhile). A
        head: its floor, deleted numbers and aliases (the last head of each
        artifact wins; heads are whole states).
        """

    @abstractmethod
    async def apply(self, states: Sequence[ArtifactState]) -> None:
        """Bring these artifacts' rows to the state read from the store (one transaction)."""

    @abstractmethod
    async def clear(self) -> None:
        """Remove every row and the watermark, and mark a rebuild as running."""

    @abstractmethod
    async def rebuilding(self) -> datetime | None:
        """When the running rebuild started (``None``: none is running)."""

    @abstractmethod
    async def optimize(self) -> None:
        """Refresh the planner's statistics (after a rebuild changed every table)."""

    @abstractmethod
    async def watermark(self) -> datetime | None:
        """Changes before this time are all in the index; ``None``: it was never built."""

    @abstractmethod
    async def set_watermark(self, moment: datetime) -> None:
        """Record a new watermark (after a catch-up that started at ``moment + slack``)."""

    @abstractmethod
    async def aclose(self) -> None:
        """Release the connection."""


def open_index(url: str | Index, **options: Any) -> Index:
    """The index for ``url``: ``sqlite:///path/catalog.db`` or ``postgresql://user@host/db``.

    Query parameters (or keywords): ``max_lag`` and ``slack`` in seconds (see :class:`Index`).

    Raises:
        ConfigurationError: an unknown scheme or option.
    """
    if isinstance(url, Index):
        return url
    import importlib

    scheme = urlsplit(url).scheme.lower() if "://" in url else ""
    target = INDEX_SCHEMES.get(scheme)
    if target is None:
        known = ", ".join(f"{name}://" for name in sorted(INDEX_SCHEMES))
        raise ConfigurationError(f"unknown index scheme in {mask(url)!r}; known: {known}")
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    built: Index = cls.from_url(url, **options)
    return built


def split_options(url: str, known: Sequence[str], options: dict[str, Any]) -> dict[str, Any]:
    """The catalog options (``max_lag``, ``slack``) of an index URL's query and keywords.

    Raises:
        ConfigurationError: an option that is not one of ``known``.
    """
    merged: dict[str, Any] = dict(parse_qsl(urlsplit(url).query))
    merged.update(options)
    unknown = sorted(set(merged) - set(known))
    if unknown:
        raise ConfigurationError(
            f"unknown index option(s) {', '.join(unknown)} in {mask(url)!r}; "
            f"known: {', '.join(known)}"
        )
    try:
        return {
            key: None if value in (None, "", "none") else float(value)
            for key, value in merged.items()
        }
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"index options are numbers of seconds: {exc}") from None
