"""Storing one version, without a lock, as a sequence of named steps.

How a version is stored (many processes and machines at once):

1. :func:`hash_content`: the content's sha256 (in a thread if it is large);
2. :func:`place_content`: content of at most ``inline_limit`` bytes goes into
   the manifest itself (no blob); larger content's blob is created at its
   sha256 address with ``mode="create"``, and ``AlreadyExists`` means it is
   already stored (deduplicated). The head to number from is found meanwhile:
   the last head this store read or wrote for the artifact (``heads.py``), so
   a process that keeps storing one artifact does not read the head first;
3. :func:`claim_number`: the manifest is created at the next number with
   ``mode="create"``; on ``AlreadyExists`` another writer took that number and
   this one moves on, so numbers have no gaps and no duplicates. The head is
   then moved to the new version by compare-and-swap against the etag it was
   allocated from (``Heads.record``); a manifest that landed below a floor a
   concurrent retention raised is void: :func:`withdraw` removes it and the
   claim starts over above the floor;
4. :func:`guard_blob`: if the blob was already there (or the store took longer
   than half the gc grace), its presence is checked once more and restored
   from the bytes in hand if a concurrent ``gc`` removed it (see ``gc.py``).

A small store is thus two provider writes: create the manifest, swap the head.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import AlreadyExists, NotFound, OutcomeUnknown
from ..providers.base import Provider
from .heads import Contention, Heads
from .layout import blob_key, manifest_key
from .records import ArtifactVersion, Head, utcnow

__all__ = ["Draft", "write_version"]

#: Content larger than this is hashed in a thread, off the event loop.
_HASH_INLINE_LIMIT = 4 * 1024 * 1024
#: Content larger than this is looked for before it is uploaded (dedup without upload).
_CHECK_FIRST_LIMIT = 64 * 1024


@dataclass(frozen=True, slots=True)
class Draft:
    """A version to store, before it has a number (arguments already checked)."""

    name: str
    data: bytes
    encoding: str | None
    content_type: str
    metadata: dict[str, Any]
    message: str | None
    inputs: tuple[tuple[str, int], ...] = ()


async def write_version(
    heads: Heads, draft: Draft, *, inline_limit: int, gc_grace: float
) -> tuple[ArtifactVersion, bool]:
    """Store ``draft`` as the next version of its artifact: ``(version, deduplicated)``."""
    started = time.monotonic()
    data = draft.data
    sha256 = await hash_content(data)
    inline = data if inline_limit > 0 and len(data) <= inline_limit else None
    deduplicated, (head, etag, fresh) = await place_content(heads, draft.name, sha256, data, inline)

    def numbered(number: int) -> ArtifactVersion:
        return ArtifactVersion(
            draft.name, number, sha256, len(data), draft.content_type, draft.encoding,
            draft.metadata, utcnow(), inline, inputs=draft.inputs, message=draft.message,
        )

    version = await claim_number(heads, numbered, head, etag, fresh)
    if inline is None:
        slow = time.monotonic() - started > gc_grace / 2
        await guard_blob(heads, sha256, data, needed=deduplicated or slow)
    return version, deduplicated


async def hash_content(data: bytes) -> str:
    """The hex sha256 of ``data``, hashed in a thread if it is large."""
    if len(data) > _HASH_INLINE_LIMIT:
        return await asyncio.to_thread(lambda: hashlib.sha256(data).hexdigest())
    return hashlib.sha256(data).hexdigest()


async def place_content(
    heads: Heads, name: str, sha256: str, data: bytes, inline: bytes | None
) -> tuple[bool, tuple[Head, str | None, bool]]:
    """Write the blob unless the content goes inline, and find the head to number from.

    Returns ``(deduplicated, (head, etag, fresh))``: whether the blob was
    already there, and :meth:`Heads.last`'s answer.
    """
    if inline is not None:  # no blob to write
        return False, await heads.last(name)
    if len(data) > _CHECK_FIRST_LIMIT:  # overlap the upload with finding the head
        return await asyncio.gather(put_blob(heads, sha256, data), heads.last(name))
    deduplicated = await put_blob(heads, sha256, data)  # small: two awaits cost less than two tasks
    return deduplicated, await heads.last(name)


async def put_blob(heads: Heads, sha256: str, data: bytes) -> bool:
    """Store the blob once; ``True`` if it was already there."""
    provider = heads.provider
    if len(data) > _CHECK_FIRST_LIMIT and await provider.exists(blob_key(sha256)):
        return True  # a cheap check spares uploading large content again
    try:
        await provider.put(blob_key(sha256), data, mode="create")
    except AlreadyExists:
        return True
    return False


async def claim_number(
    heads: Heads,
    numbered: Callable[[int], ArtifactVersion],
    head: Head,
    etag: str | None,
    fresh: bool,
) -> ArtifactVersion:
    """Create the manifest at the next free number and bring the head up to it.

    ``numbered(n)`` is the version with number ``n``. ``mode="create"`` decides
    who gets a number; losers move on (reading the head again if theirs was a
    remembered guess, spreading out when many race).
    """
    provider, name = heads.provider, head.name
    number = max(head.allocated, head.floor) + 1
    backoff = Contention()
    while True:
        version = numbered(number)
        body = version.to_json()
        key = manifest_key(name, number)
        backoff.start()
        try:
            try:
                await provider.put(key, body, mode="create")
            except OutcomeUnknown:  # the answer was lost: the manifest there tells
                held = await _stored(provider, key)
                if held is None:  # it did not land: the number is still free
                    await backoff.wait()
                    continue
                if held != body:  # (a manifest names its creation to the microsecond)
                    raise AlreadyExists("another writer's", path=name) from None
        except AlreadyExists:
            number += 1
            if not fresh:  # the remembered head was stale: read it, no wait
                head, etag = await heads.read(name)
                fresh = True
            elif backoff.attempts or number > head.allocated + 2:
                # Many writers are racing: spread out, then jump to the head's hint.
                await backoff.wait()
                head, etag = await heads.read(name)
            number = max(number, head.allocated + 1, head.floor + 1)
            continue
        if await heads.record(version, head, etag, body):
            return version
        head, etag = await withdraw(heads, version)
        number = max(head.allocated, head.floor) + 1


async def _stored(provider: Provider, key: str) -> bytes | None:
    """What ``key`` holds, ``None`` if nothing."""
    try:
        return await provider.read(key)
    except NotFound:
        return None


async def withdraw(heads: Heads, version: ArtifactVersion) -> tuple[Head, str | None]:
    """Remove a manifest that landed below a raised floor; the head to go on from."""
    await heads.provider.delete(manifest_key(version.name, version.number))
    return await heads.read(version.name)


async def guard_blob(heads: Heads, sha256: str, data: bytes, *, needed: bool) -> None:
    """Write the blob again if a concurrent gc removed it before our manifest existed.

    ``needed``: the blob was already there (deduplicated) or the store was
    slow; a blob freshly written by a quick store is younger than the grace.
    """
    if needed and not await heads.provider.exists(blob_key(sha256)):
        await heads.provider.put(blob_key(sha256), data)
