"""Heads: reading an artifact's state and changing it by compare-and-swap only.

The manifests are the truth about which numbers exist; the head is the truth
about which of them are deleted, what the aliases are, and a summary for
``list_artifacts``. A writer that dies between creating its manifest and
updating the head leaves a manifest above ``head.allocated``: :meth:`Heads.view`
finds such manifests by probing upward, so every change decides on all the
numbers that exist, and the next write or ``gc`` brings the head up to date.
Reads of the latest read the head alone (the newest completed store), and
parse a head once per distinct bytes.

:class:`Heads` remembers the last head it read or wrote per artifact name (a
bounded LRU), with its etag. ``store_artifact`` allocates from it without
reading the head first; the remembered head is only ever a guess: the
manifest's ``mode="create"`` and the head's ``IfMatch`` decide, and a guess
that turns out stale costs one refused write and a fresh read.

:meth:`View.number_of` is the one place a version argument (``"v3"``, ``"3"``,
an alias, ``"latest"``) becomes a number, for reads and for changes alike.
A change that finds something missing (:meth:`Heads.update`) is retried on a
fresh view when the head moved meanwhile: what it missed may have been
compacted by a concurrent delete, and the fresh view tells what is true now.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from ..errors import AlreadyExists, NotFound, OutcomeUnknown, PreconditionFailed
from ..providers.base import IfMatch, Provider, PutMode
from .layout import head_key, manifest_key, parse_version
from .records import ArtifactVersion, Head

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
    """A head as read, its etag (``None``: no head yet), and manifests found above it.

    ``probed`` says whether the manifests above ``head.allocated`` were looked
    for (:meth:`Heads.view`); an unprobed view (:meth:`Heads.read` alone) cannot
    rule out a number above the head, so it leaves that to the manifest read.
    """

    head: Head
    etag: str | None
    above: tuple[ArtifactVersion, ...] = ()
    probed: bool = True

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

    def number_of(self, version: str | None) -> int:
        """The live number that ``version`` (an id, an alias, ``latest`` or ``None``) names.

        Raises:
            NotFound: no such artifact, version or alias.
        """
        name = self.head.name
        if version is None or version == "latest":
            if self.latest is None:
                raise NotFound(f"no artifact {name!r}", path=name)
            return self.latest.number
        number = parse_version(version)
        if number is None:
            if version not in self.head.aliases:
                raise NotFound(f"artifact {name!r} has no alias {version!r}", path=name)
            return self.head.aliases[version]
        if not self.head.is_live(number) or (self.probed and number > self.top):
            raise NotFound(f"artifact {name!r} has no version v{number}", path=name)
        return number

    def known(self, number: int) -> ArtifactVersion | None:
        """The manifest of ``number`` if this view holds it (no read)."""
        latest = self.head.latest
        if latest is not None and latest.number == number:
            return latest
        for found in self.above:
            if found.number == number:
                return found
        return None

    def live_numbers(self) -> list[int]:
        """Every live version number, oldest first."""
        head = self.head
        return [n for n in range(head.floor + 1, self.top + 1) if n not in head.deleted]

    def caught_up(self) -> Head | None:
        """The head moved up to the manifests found above it; ``None`` if there are none."""
        if not self.above:
            return None
        head = self.head
        return replace(
            head,
            allocated=self.above[-1].number,
            created=head.created or self.above[0].created,
            latest=self.above[-1],
        )


class Heads:
    """Heads and manifests of one provider, and the last head seen of each artifact.

    Args:
        provider: where the heads and manifests are.
        remember: how many artifacts' last heads to keep (least recently used go
            first), both as allocation guesses and as parsed heads with their
            stored bytes (a head is at most ``inline_limit`` plus about 1 KiB).
    """

    def __init__(self, provider: Provider, remember: int = 2048) -> None:
        self.provider = provider
        self.remember = remember
        self._known: OrderedDict[str, tuple[Head, str | None]] = OrderedDict()
        self._parsed: OrderedDict[str, tuple[bytes, Head]] = OrderedDict()

    def _note(self, head: Head, etag: str | None) -> None:
        self._known[head.name] = (head, etag)
        self._known.move_to_end(head.name)
        if len(self._known) > self.remember:
            self._known.popitem(last=False)

    def _parse(self, name: str, data: bytes, key: str) -> Head:
        """The head stored as ``data``; parsed once per distinct bytes, not on every read.

        The bytes read are compared whole with the bytes last parsed (or
        written), so a reused head is exactly what is stored; the content it
        holds is still checked against its sha256 on every read.
        """
        known = self._parsed.get(name)
        if known is not None and known[0] == data:
            self._parsed.move_to_end(name)
            return known[1]
        head = Head.from_json(data, key)
        self._remember_parsed(name, data, head)
        return head

    def _remember_parsed(self, name: str, data: bytes, head: Head) -> None:
        self._parsed[name] = (data, head)
        self._parsed.move_to_end(name)
        if len(self._parsed) > self.remember:
            self._parsed.popitem(last=False)

    async def read(self, name: str) -> tuple[Head, str | None]:
        """The head of ``name`` and its etag; an empty head and ``None`` if there is none."""
        key = head_key(name)
        try:
            found = await self.provider.get(key)
        except NotFound:
            head: Head = Head(name)
            etag = None
        else:
            head, etag = self._parse(name, found.data, key), found.meta.etag
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
        body = head.to_json(latest)
        try:
            meta = await self.provider.put(head_key(head.name), body, mode=mode)
        except (PreconditionFailed, AlreadyExists):
            self._known.pop(head.name, None)
            return False
        self._remember_parsed(head.name, body, head)
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

    async def version(self, view: View, number: int) -> ArtifactVersion:
        """The manifest of ``number``, from ``view`` if it holds it, else read.

        Raises:
            NotFound: there is no manifest with that number.
        """
        found = view.known(number)
        return found if found is not None else await self.manifest(view.head.name, number)

    async def newest(self, view: View, numbers: list[int]) -> ArtifactVersion | None:
        """The manifest of the last of ``numbers`` (``None`` if empty), read only if needed."""
        return await self.version(view, numbers[-1]) if numbers else None

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
            try:
                if await self.put(updated, etag, manifest):
                    return True
            except OutcomeUnknown:
                # Its answer was lost: the head read next tells (it is at our
                # version or past it if the write landed), so nothing is lost.
                self._known.pop(version.name, None)
            await backoff.wait()
            head, etag = await self.read(version.name)

    async def update(
        self, name: str, change: Callable[[View], Awaitable[Head | None]]
    ) -> tuple[View, Head | None]:
        """Apply ``change`` to the current view until its compare-and-swap lands.

        ``change`` returns the new head, or ``None`` to leave the head as it is;
        it may raise to abort. A ``NotFound`` from ``change`` aborts only if the
        head has not moved since the view was read; otherwise the change is
        applied again to a fresh view (it may have missed a manifest that a
        concurrent delete compacted away, or a version just stored). Returns
        the view it was applied to and its result.
        """
        backoff = Contention()
        while True:
            backoff.start()
            current = await self.view(name)
            try:
                updated = await change(current)
            except NotFound:
                if (await self.read(name))[1] == current.etag:
                    raise  # the view was current: it really is missing
                continue  # the head moved: decide again on what is true now
            if updated is None or await self.put(updated, current.etag):
                return current, updated
            await backoff.wait()
