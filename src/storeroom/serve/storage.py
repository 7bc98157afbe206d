"""The storage panel: versions, bytes, what deduplication saved, what gc and keep would free.

It reads the store's layout (``artifactstore/records.py``) the way ``gc``
does, without changing anything: every head (which numbers are live), every
manifest (size, sha256, inline or blob) and the blob listing (stored sizes
and ages). That is one listing of each tree plus one read per head and per
manifest, so the panel is computed on request, never on the list page.

- *logical bytes*: the sum of every live version's size;
- *stored bytes*: inline content plus every blob once;
- *saved by deduplication*: logical bytes kept in blobs minus the bytes of
  the distinct blobs they reference;
- *gc would free*: blobs no live version references (those younger than the
  store's ``gc_grace`` are counted apart: gc keeps them for now);
- *keep N would free*: the versions beyond each artifact's newest N and the
  blobs that only those versions reference.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

from ..artifactstore import ArtifactStore, ArtifactVersion
from ..artifactstore.layout import (
    BLOBS,
    HEADS,
    VERSIONS,
    name_from_head_key,
    name_from_manifest_key,
    sha256_from_key,
)
from ..artifactstore.records import ArtifactVersion as Manifest
from ..artifactstore.records import Head
from ..concurrency import map_limited
from ..errors import NotFound
from .listing import paced

__all__ = ["StorageReport", "storage_report"]


@dataclass(frozen=True, slots=True)
class StorageReport:
    """What the storage panel shows (every figure in bytes unless named otherwise)."""

    artifacts: int
    versions: int
    logical_bytes: int
    stored_bytes: int
    inline_bytes: int
    blobs: int
    dedup_saved_bytes: int
    gc_blobs: int
    gc_bytes: int
    gc_young_blobs: int
    gc_young_bytes: int
    keep: int
    keep_versions: int
    keep_bytes: int

    def to_json(self) -> dict[str, int]:
        """The API's JSON."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


async def storage_report(store: ArtifactStore, keep: int = 1) -> StorageReport:
    """The storage panel's figures for ``store``; ``keep`` is the N of "keep the last N".

    Raises:
        ValueError: ``keep`` < 1.
    """
    if keep < 1:
        raise ValueError("keep must be >= 1")
    provider = store.provider
    head_keys = [
        m.path async for m in paced(provider.iter(HEADS)) if name_from_head_key(m.path) is not None
    ]
    manifest_keys = [
        m.path
        async for m in paced(provider.iter(VERSIONS))
        if name_from_manifest_key(m.path) is not None
    ]
    blob_sizes: dict[str, tuple[int, float]] = {}
    async for meta in paced(provider.iter(BLOBS)):
        sha = sha256_from_key(meta.path)
        if sha is not None:
            blob_sizes[sha] = (meta.size, meta.modified.timestamp())

    async def load_head(key: str) -> Head | None:
        try:
            return Head.from_json(await provider.read(key), key)
        except NotFound:
            return None

    async def load_manifest(key: str) -> ArtifactVersion | None:
        try:
            return Manifest.from_json(await provider.read(key), key)
        except NotFound:
            return None

    heads = {h.name: h for h in await map_limited(load_head, head_keys, store.concurrency) if h}
    manifests = [m for m in await map_limited(load_manifest, manifest_keys, store.concurrency) if m]
    live = [m for m in manifests if m.name in heads and heads[m.name].is_live(m.number)]
    by_name: dict[str, list[ArtifactVersion]] = defaultdict(list)
    for version in live:
        by_name[version.name].append(version)

    logical = sum(v.size for v in live)
    inline = sum(v.size for v in live if v.inline is not None)
    referenced = {v.sha256 for v in live if v.inline is None}
    in_blobs = sum(v.size for v in live if v.inline is None)
    distinct = sum(blob_sizes.get(sha, (0, 0.0))[0] for sha in referenced)
    now, grace = time.time(), store.gc_grace
    unreferenced = [(size, at) for sha, (size, at) in blob_sizes.items() if sha not in referenced]
    old = [size for size, at in unreferenced if now - at >= grace]
    young = [size for size, at in unreferenced if now - at < grace]

    kept: set[str] = set()
    dropped: list[ArtifactVersion] = []
    for versions in by_name.values():
        versions.sort(key=lambda v: v.number)
        dropped.extend(versions[:-keep])
        kept.update(v.sha256 for v in versions[-keep:] if v.inline is None)
    freed_blobs = {v.sha256 for v in dropped if v.inline is None} - kept
    keep_bytes = sum(v.size for v in dropped if v.inline is not None) + sum(
        blob_sizes.get(sha, (0, 0.0))[0] for sha in freed_blobs
    )
    return StorageReport(
        artifacts=len(by_name),
        versions=len(live),
        logical_bytes=logical,
        stored_bytes=inline + sum(size for size, _ in blob_sizes.values()),
        inline_bytes=inline,
        blobs=len(blob_sizes),
        dedup_saved_bytes=max(0, in_blobs - distinct),
        gc_blobs=len(old),
        gc_bytes=sum(old),
        gc_young_blobs=len(young),
        gc_young_bytes=sum(young),
        keep=keep,
        keep_versions=len(dropped),
        keep_bytes=keep_bytes,
    )
