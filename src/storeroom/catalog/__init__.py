"""The artifact catalog: search by metadata, lineage, and an optional rebuildable index.

The manifests on the store stay the one truth; an :class:`Index` (SQLite or
PostgreSQL) is derived from them and can always be rebuilt. Without an index
``ArtifactStore.find`` scans. See docs/catalog.md.
"""

from __future__ import annotations

from .index import INDEX_SCHEMES, ArtifactState, Index, open_index
from .lineage import Link, resolve_inputs, walk
from .query import FIELDS, FilterError, Node, parse
from .rows import Entry, FindPage, parse_order
from .search import find, listing, tell
from .sync import RebuildReport, rebuild, reconcile

__all__ = [
    "FIELDS",
    "INDEX_SCHEMES",
    "ArtifactState",
    "Entry",
    "FilterError",
    "FindPage",
    "Index",
    "Link",
    "Node",
    "RebuildReport",
    "find",
    "listing",
    "open_index",
    "parse",
    "parse_order",
    "rebuild",
    "reconcile",
    "resolve_inputs",
    "tell",
    "walk",
]
