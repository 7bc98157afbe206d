"""Reading the truth from the store: snapshots, the scan, rebuild and reconcile.

Everything here streams: artifact names come from listing ``versions/`` (and
``heads/``) as the provider pages it, are taken in batches of
:data:`BATCH`, and each batch's snapshots are read with bounded concurrency,
handed on and dropped. Memory does not grow with the number of versions.

A snapshot (:class:`~storeroom.catalog.index.ArtifactState`) is the head,
probed past for manifests a dead writer left above it (as every read of the
store does), and the manifests of the live numbers.

- :func:`rebuild` clears the index and applies a snapshot of every artifact;
- :func:`reconcile` applies snapshots of the artifacts whose manifests or head
  changed since the watermark (minus ``slack`` for clock skew), found by
  listing (no reads for the rest), then moves the watermark to its own start.

Both write only rows the store proves (upserts of immutable versions; deletion
of numbers the head marks deleted, which are never allocated again), so they
may run while writers notify the same index.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from ..artifactstore.layout import HEADS, VERSIONS, name_from_head_key, name_from_manifest_key
from ..artifactstore.records import ArtifactVersion, Head
from ..concurrency import map_limited
from ..errors import NotFound
from .index import ArtifactState, Index
from .rows import Entry, created_us

if TYPE_CHECKING:
    from ..artifactstore import ArtifactStore

__all__ = ["BATCH", "RebuildReport", "entries_of", "names", "rebuild", "reconcile", "snapshots"]

#: Artifacts read (and applied to an index) per batch.
BATCH = 256


@dataclass(frozen=True, slots=True)
class RebuildReport:
    """What a rebuild or reconcile did."""

    artifacts: int
    versions: int
    seconds: float
    watermark: datetime


async def names(
    store: ArtifactStore, since: datetime | None = None, *, heads: bool = False
) -> AsyncIterator[str]:
    """Artifact names with a manifest (or, with ``heads``, a head) modified at or after ``since``.

    Names come in key order; each at most once per tree.
    """
    tree = HEADS if heads else VERSIONS
    last = None
    async for meta in store.provider.iter(f"{tree}/"):
        if since is not None and meta.modified < since:
            continue
        if heads:
            name = name_from_head_key(meta.path)
        else:
            found = name_from_manifest_key(meta.path)
            name = found[0] if found else None
        if name is not None and name != last:
            last = name
            yield name


async def snapshot(store: ArtifactStore, name: str) -> ArtifactState:
    """``name``'s head (probed past) and its live versions, oldest first."""
    heads = store._heads
    view = await heads.view(name)
    known = {v.number: v for v in (view.head.latest, *view.above) if v is not None}

    async def load(number: int) -> ArtifactVersion | None:
        if number in known:
            return known[number]
        try:
            return await heads.manifest(name, number)
        except NotFound:  # withdrawn by its writer (created below a raised floor)
            return None

    loaded = await map_limited(load, view.live_numbers(), 8)
    versions = tuple(v for v in loaded if v is not None)
    head = view.head
    if head.created is None and versions:
        head = Head(head.name, head.allocated, head.floor, head.deleted, versions[0].created,
                    head.latest, head.aliases)
    return ArtifactState(head, versions)


async def snapshots(
    store: ArtifactStore, source: AsyncIterator[str]
) -> AsyncIterator[list[ArtifactState]]:
    """Snapshots of the names ``source`` yields, a batch at a time."""
    batch: list[str] = []

    async def read(chunk: list[str]) -> list[ArtifactState]:
        return await map_limited(lambda n: snapshot(store, n), chunk, store.concurrency)

    async for name in source:
        batch.append(name)
        if len(batch) >= BATCH:
            yield await read(batch)
            batch = []
    if batch:
        yield await read(batch)


def entries_of(state: ArtifactState) -> list[Entry]:
    """The catalog entries of one artifact's live versions."""
    by_number: dict[int, list[str]] = {}
    for alias, number in state.head.aliases.items():
        by_number.setdefault(number, []).append(alias)
    newest = state.versions[-1].number if state.versions else None
    return [
        Entry(
            name=v.name,
            number=v.number,
            sha256=v.sha256,
            size=v.size,
            content_type=v.content_type,
            text=v.encoding is not None,
            created_us=created_us(v.created),
            metadata=v.metadata,
            aliases=tuple(sorted(by_number.get(v.number, []))),
            inputs=tuple(getattr(v, "inputs", ())),
            latest=v.number == newest,
        )
        for v in state.versions
    ]


def _now() -> datetime:
    return datetime.now(timezone.utc)


async def _apply_all(
    index: Index, batches: AsyncIterator[list[ArtifactState]], progress: Callable[[int], None]
) -> tuple[int, int]:
    artifacts = versions = 0
    writing: asyncio.Task[None] | None = None
    try:
        async for batch in batches:  # read the next batch while the last one is written
            if writing is not None:
                await writing
            writing = asyncio.ensure_future(index.apply(batch))
            artifacts += len(batch)
            count = sum(len(state.versions) for state in batch)
            versions += count
            progress(count)
        if writing is not None:
            await writing
    finally:
        if writing is not None and not writing.done():
            # Stopped early (cancelled, or reading the next batch failed): stop the
            # write too, and wait until it has, so no write of this rebuild is
            # still running on the index when the caller goes on.
            writing.cancel()
            await asyncio.wait({writing})
            if not writing.cancelled():
                writing.exception()  # retrieved: the error that stopped us is raised
    return artifacts, versions


async def rebuild(
    store: ArtifactStore, index: Index, progress: Callable[[int], None] = lambda _: None
) -> RebuildReport:
    """Clear ``index`` and fill it from every manifest and head of ``store``."""
    await index.flush()
    started = _now()
    await index.clear()
    artifacts, versions = await _apply_all(index, snapshots(store, names(store)), progress)
    await index.optimize()  # fresh statistics: the planner picks the selective index
    watermark = started - timedelta(seconds=index.slack)
    await index.set_watermark(watermark)
    index.dirty = False
    return RebuildReport(artifacts, versions, (_now() - started).total_seconds(), watermark)


async def reconcile(
    store: ArtifactStore, index: Index, progress: Callable[[int], None] = lambda _: None
) -> RebuildReport:
    """Catch ``index`` up with every change since its watermark (a rebuild if it has none)."""
    await index.flush()
    since = await index.watermark()
    if since is None:
        return await rebuild(store, index, progress)
    started = _now()
    changed: set[str] = set()
    for heads in (False, True):
        async for name in names(store, since, heads=heads):
            changed.add(name)

    async def ordered() -> AsyncIterator[str]:
        for name in sorted(changed):
            yield name

    artifacts, versions = await _apply_all(index, snapshots(store, ordered()), progress)
    watermark = started - timedelta(seconds=index.slack)
    await index.set_watermark(max(watermark, since))
    index.dirty = False
    return RebuildReport(artifacts, versions, (_now() - started).total_seconds(), watermark)
