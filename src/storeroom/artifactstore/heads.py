"""Heads: reading an artifact's state and changing it by compare-and-swap only.

The manifests are the truth about which numbers exist; the head is the truth
about which of them are deleted, what the aliases are, and a summary for
``list_artifacts``. A writer that dies between creating its manifest and
updating the head leaves a manifest above ``head.allocated``: :meth:`Heads.view`
finds such manifests by probing upward, so reads stay exact, and the next
write or ``gc`` brings the head up to date.

:class:`Heads` remembers the last head it read or wrote per artifact name (a
bounded LRU), with its etag. ``store_artifact`` allocates from it without
reading the head first; the remembered head is only ever a guess: the
manifest's ``mode="create"`` and the head's ``IfMatch`` decide, and a guess
that turns out stale costs one refused write and a fresh read.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..errors import AlreadyExists, NotFound, PreconditionFailed
from ..providers.base import IfMatch, Provider, PutMode
from .records import ArtifactVersion, Head, head_key, manifest_key, parse_version

__all__ = ["Contention", "Heads", "View"]



class Contention:
    """Randomized exponential backoff between optimistic retries, scaled to the backend.

    Random (not synchronized) waits let many racing writers spread out, so a
    contended slot costs a few retries instead of one by every racer. The
    unit is the duration of the request that lost (at least ``base``): a
    millisecond on local disk, tens of them on a busy object store.
    """

    def __init__(self, base: float = 0.0002, cap: float = 1.0) -> None:
        self.base = base
        self.cap = cap
        self.attempts = 0
        self._started = time.monotonic()

    def start(self) -> None:
        """Mark the start of an attempt (its duration scales the next wait)."""
        self._started = time.monotonic()

    async def wait(self) -> None:
        """Sleep a random time up to ``unit * 2**attempts`` (at most ``cap``)."""
        self.attempts += 1
        unit = max(self.base, time.monotonic() - self._started)
        limit = min(self.cap, unit * 2 ** min(self.attempts, 16))
        await asyncio.sleep(random.uniform(0, limit))  # noqa: S311 - jitter, not crypto


@dataclass(frozen=True, slots=True)
class View:
    """A head as read, its etag (``None``: no head yet), and manifests found above it."""

    head: Head
    etag: str | None
    above: tuple[ArtifactVersion, ...] = ()

    @property
    def top(self) -> int:
        """The highest number known to be allocated."""
        return self.above[-1].number if self.above else self.head.allocated

    @property
    def latest(self) -> ArtifactVersion | None:
        """The newest live version."""
        return self.above[-1] if self.above else self.head.latest

    @property
    def exists(self) -> bool:
        """Whether the artifact has at least one live version."""
        return self.latest is not None

    def number_of(self, version: str) -> int:
        """The live number that ``version`` (an id, an alias or ``latest``) names.

        Raises:
            NotFound: no such version or alias.
        """
        name = self.head.name
        if version == "latest":
            if self.latest is None:
                raise NotFound(f"no artifact {name!r}", path=name)
            return self.latest.number
        number = parse_version(version)
        if number is None:
            if version not in self.head.aliases:
                raise NotFound(f"artifact {name!r} has no alias {version!r}", path=name)
            return self.head.aliases[version]
        if not self.head.is_live(number) or number > self.top:
            raise NotFound(f"artifact {name!r} has no version v{number}", path=name)
        return number

    def live_numbers(self) -> list[int]:
        """Every live version number, oldest first."""
        head = self.head
        return [n for n in range(head.floor + 1, self.top + 1) if n not in head.deleted]


class Heads:
    """Heads and manifests of one provider, and the last head seen of each artifact.

    Args:
        provider: where the heads and manifests are.
        remember: how many artifacts' last heads to keep (least recently used go first).
    """

    def __init__(self, provider: Provider, remember: int = 2048) -> None:
        self.provider = provider
        self.remember = remember
        self._known: OrderedDict[str, tuple[Head, str | None]] = OrderedDict()

    def _note(self, head: Head, etag: str | None) -> None:
        self._known[head.name] = (head, etag)
        self._known.move_to_end(head.name)
        if len(self._known) > self.remember:
            self._known.popitem(last=False)

    async def read(self, name: str) -> tuple[Head, str | None]:
        """The head of ``name`` and its etag; an empty head and ``None`` if there is none."""
        key = head_key(name)
        try:
            found = await self.provider.get(key)
        except NotFound:
            head: Head = Head(name)
            etag = None
        else:
            head, etag = Head.from_json(found.data, key), found.meta.etag
        self._note(head, etag)
        return head, etag

    async def last(self, name: str) -> tuple[Head, str | None, bool]:
        """The last head of ``name`` this instance read or wrote, else a fresh read.

        Returns the head, its etag and whether it was read just now. A
        remembered head may be stale: use it only for conditional writes.
        """
        known = self._known.get(name)
        if known is None:
            return (*await self.read(name), True)
        self._known.move_to_end(name)
        return (*known, False)

    async def put(self, head: Head, etag: str | None, latest: bytes | None = None) -> bool:
        """Replace the head read with ``etag`` (create it if ``None``); ``False`` if it moved.

        ``latest`` is ``head.latest``'s manifest as stored, if at hand.
        """
        mode: PutMode = IfMatch(etag) if etag is not None else "create"
        try:
            meta = await self.provider.put(head_key(head.name), head.to_json(latest), mode=mode)
        except (PreconditionFailed, AlreadyExists):
            self._known.pop(head.name, None)
            return False
        if meta.etag is None:  # nothing to compare-and-swap against next time
            self._known.pop(head.name, None)
        else:
            self._note(head, meta.etag)
        return True

    async def manifest(self, name: str, number: int) -> ArtifactVersion:
        """Version ``number``'s manifest.

        Raises:
            NotFound: there is no manifest with that number.
            IntegrityError: the manifest is unreadable.
        """
        key = manifest_key(name, number)
        return ArtifactVersion.from_json((await self.provider.get(key)).data, key)

    async def view(self, name: str) -> View:
        """The head of ``name`` and every manifest above ``head.allocated``."""
        head, etag = await self.read(name)
        above: list[ArtifactVersion] = []
        number = head.allocated + 1
        while True:
            try:
                above.append(await self.manifest(name, number))
            except NotFound:
                return View(head, etag, tuple(above))
            number += 1

    async def newest(self, view: View, numbers: list[int]) -> ArtifactVersion | None:
        """The manifest of the last of ``numbers`` (``None`` if empty), read only if needed."""
        if not numbers:
            return None
        for known in (view.latest, *view.above):
            if known is not None and known.number == numbers[-1]:
                return known
        return await self.manifest(view.head.name, numbers[-1])

    async def record(
        self,
        version: ArtifactVersion,
        head: Head,
        etag: str | None,
        manifest: bytes | None = None,
    ) -> bool:
        """Bring the head up to ``version`` (just created); ``False`` if it lies below the floor.

        A manifest below the floor was created from a stale head after its slot
        was compacted away: it is void, and the writer must withdraw it.
        ``manifest`` is the version's manifest as stored, if at hand.
        """
        backoff = Contention()
        while True:
            backoff.start()
            if version.number <= head.floor:
                return False
            if version.number <= head.allocated:
                return True
            updated = Head(
                head.name,
                version.number,
                head.floor,
                head.deleted,
                head.created or version.created,
                version,
                head.aliases,
            )
            if await self.put(updated, etag, manifest):
                return True
            await backoff.wait()
            head, etag = await self.read(version.name)

    async def update(
        self, name: str, change: Callable[[View], Awaitable[Head | None]]
    ) -> tuple[View, Head | None]:
        """Apply ``change`` to the current view until its compare-and-swap lands.

        ``change`` returns the new head, or ``None`` to leave the head as it is;
        it may raise to abort. Returns the view it was applied to and its result.
        """
        backoff = Contention()
        while True:
            backoff.start()
            current = await self.view(name)
            updated = await change(current)
            if updated is None or await self.put(updated, current.etag):
                return current, updated
            await backoff.wait()
