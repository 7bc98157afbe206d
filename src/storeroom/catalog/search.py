"""``find`` and ``list_artifacts`` through the index or the scan, and notifying the index.

How a stale or missing index is kept from giving a wrong answer silently
(the choice documented in docs/catalog.md):

- an index that was never built (no watermark) is built before it answers;
- an index this process failed to notify (``dirty``) catches up first;
- an index whose watermark is older than its ``max_lag`` catches up first;
- an index another process is rebuilding (for less than ``REBUILD_WAIT``)
  does not answer: the scan does (``source == "scan"``);
- otherwise it answers at once, and the page says how old its guarantee is:
  ``FindPage.as_of`` is the watermark. Every change notified by a writer is
  in; only a change whose writer died between writing the store and telling
  the index (or a writer that has no index configured) can be missing, and
  only if it is newer than ``as_of``.

The scan reads every artifact's snapshot (see ``sync.py``) and keeps at most
``limit + 1`` entries in a heap: correct, exact now, slower.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from ..artifactstore.records import ArtifactVersion, Head
from . import sync
from .index import Index
from .query import Node, parse
from .rows import FindPage, Order, after, decode_token, encode_token, matches, parse_order, sort_key

if TYPE_CHECKING:
    from ..artifactstore import ArtifactStore

__all__ = ["MAX_LIMIT", "catch_up", "find", "find_tree", "listing", "tell"]

#: The largest page ``find`` returns.
MAX_LIMIT = 10_000
#: A rebuild running for less than this makes readers scan instead of starting their own.
REBUILD_WAIT = timedelta(minutes=30)


async def catch_up(store: ArtifactStore, index: Index) -> tuple[bool, datetime | None]:
    """Reconcile ``index`` first if the rules above say so.

    Returns whether to answer from the index (not while another process is
    rebuilding it: then the scan answers) and its watermark.
    """
    await index.flush()
    watermark = await index.watermark()
    if watermark is None:
        started = await index.rebuilding()
        if started is not None and datetime.now(timezone.utc) - started < REBUILD_WAIT:
            return False, None
    stale = watermark is None or index.dirty or (
        index.max_lag is not None
        and datetime.now(timezone.utc) - watermark > timedelta(seconds=index.max_lag)
    )
    if stale:
        watermark = (await sync.reconcile(store, index)).watermark
    return True, watermark


async def find_tree(
    store: ArtifactStore,
    tree: Node | None,
    order: Order,
    limit: int,
    last: Sequence[Any] | None,
) -> FindPage:
    """One page of the versions matching ``tree`` (``limit + 1`` looked up to know if more)."""
    index: Index | None = getattr(store, "index", None)
    use, as_of = await catch_up(store, index) if index is not None else (False, None)
    if index is not None and use:
        found = await index.find(tree, order, limit + 1, last)
        source = index.source
    else:
        as_of, source = None, "scan"
        kept: list[Any] = []

        async def matching() -> Any:
            async for batch in sync.snapshots(store, sync.names(store)):
                for state in batch:
                    for entry in sync.entries_of(state):
                        if matches(tree, entry) and after(entry, last, order):
                            yield entry

        key = sort_key(order)
        async for entry in matching():
            kept.append(entry)
            if len(kept) > 4 * (limit + 1):  # bounded memory: keep the best limit + 1
                kept = heapq.nsmallest(limit + 1, kept, key=key)
        found = heapq.nsmallest(limit + 1, kept, key=key)
    more = len(found) > limit
    entries = found[:limit]
    token = encode_token(entries[-1], tree, order) if more and entries else None
    return FindPage(entries, token, source, as_of)


async def find(
    store: ArtifactStore,
    filter: str = "",
    *,
    order_by: str | Sequence[str] | None = None,
    limit: int = 100,
    page_token: str | None = None,
) -> FindPage:
    """See :meth:`ArtifactStore.find`."""
    from .query import FilterError

    tree = parse(filter)
    order = parse_order(order_by)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise FilterError(f"limit must be an int from 1 to {MAX_LIMIT}, not {limit!r}")
    return await find_tree(store, tree, order, limit, decode_token(page_token, tree, order))


async def listing(
    store: ArtifactStore, index: Index, prefix: str
) -> list[dict[str, Any]] | None:
    """``list_artifacts(prefix)`` from the index (caught up as :func:`find` is);
    ``None`` while another process rebuilds it (the caller reads the heads)."""
    use, _ = await catch_up(store, index)
    return await index.listing(prefix) if use else None


async def tell(index: Index, change: ArtifactVersion | Head) -> None:
    """Tell ``index`` about a change already written to the store (queued; see ``index.py``)."""
    index.submit(change)
