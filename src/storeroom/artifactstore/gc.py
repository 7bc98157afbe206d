"""Garbage collection: remove blobs no live version references, and void manifests.

Only content larger than the store's ``inline_limit`` lives in blobs; a
version whose manifest holds its content (``inline``) references no blob, and
its content goes with its manifest.

The danger is a blob that looks unreferenced to ``gc`` while a concurrent
``store_artifact`` is about to reference it: the store found the blob already
there (deduplicated), or wrote it moments ago, and its manifest is not yet
visible to ``gc``'s listing. Two rules make this safe without any lock
between stores and ``gc``:

1. ``gc`` never deletes a blob younger than the grace period, and deletes the
   others by *setting them aside*: copy to ``trash/``, delete, then list the
   manifests a second time; a blob that a manifest now references is copied
   back, and only then is the trash emptied. Readers that miss a blob look in
   the trash.
2. A store that deduplicated (or took longer than half the grace period)
   checks, after creating its manifest, that the blob exists, and writes it
   again from the bytes it holds if not.

A manifest created before ``gc``'s second listing is seen by it (rule 1); one
created after it is followed by the store's own check, which comes after
``gc``'s deletion (rule 2); a blob the store freshly wrote is younger than the
grace period unless the store was slow, and then rule 2 applies too. Clocks:
blob ages come from the backend, the grace period from this machine, so skew
must stay well below ``gc_grace``.

Only one ``gc`` runs at a time: it holds a lease object (``gc/lease.json``)
created with ``mode="create"``; an expired lease is taken over by
compare-and-swap.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

from ..concurrency import map_limited
from ..errors import AlreadyExists, IntegrityError, NotFound, PreconditionFailed
from ..providers.base import IfMatch, Provider
from .heads import Heads, View
from .layout import (
    BLOBS,
    LEASE_KEY,
    TRASH,
    VERSIONS,
    blob_key,
    manifest_key,
    name_from_manifest_key,
    sha256_from_key,
    trash_key,
)
from .records import Head, dump_json, utcnow

__all__ = ["LEASE_KEY", "GCReport", "collect"]

#: How long a gc's lease lasts; a gc still running after this may be joined by another.
LEASE_SECONDS = 6 * 3600


@dataclass(frozen=True, slots=True)
class GCReport:
    """What one ``gc`` run did.

    Attributes:
        blobs_checked: blobs listed.
        blobs_deleted: unreferenced blobs removed.
        bytes_freed: their total size.
        blobs_restored: blobs set aside and then found referenced (put back), or
            left in the trash by an interrupted gc.
        manifests_removed: void manifests (at or below a floor) removed.
        heads_repaired: heads brought up to a manifest a crashed writer left.
    """

    blobs_checked: int = 0
    blobs_deleted: int = 0
    bytes_freed: int = 0
    blobs_restored: int = 0
    manifests_removed: int = 0
    heads_repaired: int = 0


class _Lease:
    """The one-gc-at-a-time lease."""

    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self.owner = secrets.token_hex(8)

    async def acquire(self) -> None:
        expires = utcnow() + timedelta(seconds=LEASE_SECONDS)
        body = dump_json({"owner": self.owner, "expires": expires.isoformat()})
        try:
            await self.provider.put(LEASE_KEY, body, mode="create")
            return
        except AlreadyExists:
            pass
        try:
            current = await self.provider.get(LEASE_KEY)
            held_until = json.loads(current.data)["expires"]
            if held_until > utcnow().isoformat():
                raise AlreadyExists(f"another gc holds the lease until {held_until}")
            await self.provider.put(LEASE_KEY, body, mode=IfMatch(current.meta.etag or ""))
        except (NotFound, PreconditionFailed) as exc:
            raise AlreadyExists("another gc took the lease just now") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise IntegrityError(f"unreadable gc lease at {LEASE_KEY!r}") from exc

    async def release(self) -> None:
        try:
            current = await self.provider.get(LEASE_KEY)
        except NotFound:
            return
        if json.loads(current.data).get("owner") == self.owner:
            await self.provider.delete(LEASE_KEY)


class _Collector:
    def __init__(self, heads: Heads, grace: float, concurrency: int) -> None:
        self.heads = heads
        self.provider = heads.provider
        self.grace = grace
        self.concurrency = concurrency
        self.manifests_removed = 0
        self.heads_repaired = 0

    async def references(self, *, repair: bool) -> set[str]:
        """The blob of every live version; with ``repair``, also fix what crashes left."""
        numbers: defaultdict[str, list[int]] = defaultdict(list)
        async for meta in self.provider.iter(VERSIONS):
            found = name_from_manifest_key(meta.path)
            if found is not None:
                numbers[found[0]].append(found[1])

        async def scan(name: str) -> set[str]:
            head, _ = await self.heads.read(name)
            live = [n for n in numbers[name] if head.is_live(n)]
            if repair:
                void = [manifest_key(name, n) for n in numbers[name] if n <= head.floor]
                await map_limited(self.provider.delete, void, self.concurrency)
                self.manifests_removed += len(void)
                if live and max(live) > head.allocated:
                    await self.catch_up(name)

            async def blob_of(number: int) -> str | None:
                if head.latest is not None and head.latest.number == number:
                    return head.latest.blob
                try:
                    return (await self.heads.manifest(name, number)).blob
                except NotFound:  # removed by a concurrent delete's compaction
                    return None

            return {sha for sha in await map_limited(blob_of, live, self.concurrency) if sha}

        found_sets = await map_limited(scan, sorted(numbers), max(1, self.concurrency // 4))
        return set().union(*found_sets)

    async def catch_up(self, name: str) -> None:
        """Bring the head up to the manifests a crashed writer left above it.

        Through :meth:`Heads.update`, on a fresh view: a manifest that a
        concurrent delete compacted away meanwhile is simply not there to catch
        up to, never an error.
        """

        async def change(view: View) -> Head | None:
            return view.caught_up()

        _, updated = await self.heads.update(name, change)
        if updated is not None:
            self.heads_repaired += 1

    async def restore(self, sha256: str) -> None:
        """Copy a set-aside blob back (a store may have put it back already)."""
        with contextlib.suppress(AlreadyExists, NotFound):
            await self.provider.copy(trash_key(sha256), blob_key(sha256), overwrite=False)

    async def run(self) -> GCReport:
        leftovers = [sha async for sha in self._shas(TRASH)]
        for sha in leftovers:  # an interrupted gc: put everything back first
            await self.restore(sha)
            await self.provider.delete(trash_key(sha))
        started = utcnow()
        referenced = await self.references(repair=True)
        checked = 0
        candidates: list[tuple[str, int]] = []
        async for meta in self.provider.iter(BLOBS):
            blob = sha256_from_key(meta.path)
            if blob is None:
                continue
            checked += 1
            age = (started - meta.modified).total_seconds()
            if blob not in referenced and (self.grace <= 0 or age >= self.grace):
                candidates.append((blob, meta.size))

        async def set_aside(item: tuple[str, int]) -> None:
            await self.provider.copy(blob_key(item[0]), trash_key(item[0]))
            await self.provider.delete(blob_key(item[0]))

        await map_limited(set_aside, candidates, self.concurrency)
        referenced = await self.references(repair=False) if candidates else referenced
        restored = [sha for sha, _ in candidates if sha in referenced]
        await map_limited(self.restore, restored, self.concurrency)
        await map_limited(
            self.provider.delete, [trash_key(sha) for sha, _ in candidates], self.concurrency
        )
        return GCReport(
            blobs_checked=checked,
            blobs_deleted=len(candidates) - len(restored),
            bytes_freed=sum(size for sha, size in candidates if sha not in referenced),
            blobs_restored=len(restored) + len(leftovers),
            manifests_removed=self.manifests_removed,
            heads_repaired=self.heads_repaired,
        )

    async def _shas(self, tree: str) -> AsyncIterator[str]:
        async for meta in self.provider.iter(tree):
            sha = sha256_from_key(meta.path)
            if sha is not None:
                yield sha


async def collect(heads: Heads, grace: float, concurrency: int) -> GCReport:
    """Run one gc over the store of ``heads`` (see the module docstring)."""
    lease = _Lease(heads.provider)
    try:
        await lease.acquire()
        return await _Collector(heads, grace, concurrency).run()
    finally:
        # Also after a cancellation: it may come once the lease has landed, before
        # its reply (a cancelled gc must not leave the lease for hours). Shielded:
        # a release that has started ends. It removes the lease only if it is ours.
        await asyncio.shield(lease.release())
