"""The ``Index`` protocol, and ``open_index(url)`` to pick an implementation.

An index is derived data: every row comes from a manifest or a head on the
store, which stays the one truth. ``ArtifactStore`` writes the store first and
tells its index after (:meth:`Index.stored` for a new version,
:meth:`Index.head_changed` for deletions, aliases and retention); the
catch-up path (:meth:`Index.apply` with snapshots read from the store, see
``sync.py``) writes the same rows, so any order of notifications and
catch-ups converges. Deleted numbers are remembered (they are never
allocated again), so a late notification cannot bring a deleted version back.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ..artifactstore.records import ArtifactVersion, Head
from ..errors import ConfigurationError
from ..options import mask
from .query import Node
from .rows import Entry, Order

__all__ = ["INDEX_SCHEMES", "ArtifactState", "Index", "open_index"]

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

    @abstractmethod
    async def find(
        self, tree: Node | None, order: Order, limit: int, after: Sequence[Any] | None
    ) -> list[Entry]:
        """Up to ``limit`` entries matching ``tree``, after the sort key ``after``, in ``order``."""

    @abstractmethod
    async def listing(self, prefix: str) -> list[dict[str, Any]]:
        """``list_artifacts(prefix)``'s entries, from the index."""

    @abstractmethod
    async def stored(self, version: ArtifactVersion) -> None:
        """A version was stored (its manifest and head are written)."""

    @abstractmethod
    async def head_changed(self, head: Head) -> None:
        """A head was replaced by a deletion, an alias change or retention."""

    @abstractmethod
    async def apply(self, states: Sequence[ArtifactState]) -> None:
        """Bring these artifacts' rows to the state read from the store (one transaction)."""

    @abstractmethod
    async def clear(self) -> None:
        """Remove every row and the watermark (before a rebuild)."""

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
