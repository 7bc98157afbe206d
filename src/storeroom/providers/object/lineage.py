"""Which conditional write stored an object, and which writes it replaced.

A conditional put (``mode="create"`` or ``IfMatch``) may land on the server
while its answer is lost; storeroom then retries it, and the retry is refused
because the object is no longer what it expected. Was the refusal caused by
the put's own earlier try, or did it really lose? If another writer replaced
the object in between, the object no longer carries the put's id, and
answering "lost" would make a caller such as ``append_text`` write again:
the text would be appended twice.

So every conditional put stores, in hidden user metadata (:data:`WRITE_TAG`),
its **chain**: its own id, then the ids of the writes it replaced, newest
first (at most :data:`DEPTH`), ending in :data:`ORIGIN` (the first write
replaced nothing: a create) or :data:`UNKNOWN` (what came before is not known:
an unconditional put, a write by another tool, a chain cut at :data:`DEPTH`).
A writer learns its predecessor's chain from its own reads: :class:`Lineage`
remembers, per key, the chain of the etag it last saw.

After a refused retry, :func:`verdict` reads the current chain from newest to
oldest: the put's own id means it landed (perhaps since replaced); the
put's predecessor (or ``ORIGIN`` for a create) met first means someone else
replaced that predecessor, so this put cannot have; ``UNKNOWN`` met first means
nobody can tell, and the caller raises
:class:`~storeroom.errors.OutcomeUnknown` instead of a refusal.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Mapping

__all__ = ["DEPTH", "ORIGIN", "UNKNOWN", "WRITE_TAG", "Lineage", "chain_of", "new_id", "verdict"]

#: User-metadata name of the chain (hidden from every listing and ``metadata``).
WRITE_TAG = "storeroom_write"
#: How many writes a chain names (its own included).
DEPTH = 8
#: The chain reached a write that replaced nothing.
ORIGIN = "^"
#: What came before is not known.
UNKNOWN = "~"
_SEPARATOR = "."
#: How many keys a :class:`Lineage` remembers, and how many versions of each.
_REMEMBERED = 4096
_VERSIONS = 8

Chain = tuple[str, ...]


def new_id() -> str:
    """A fresh write id (64 random bits in hex)."""
    return uuid.uuid4().hex[:16]


def chain_of(attributes: Mapping[str, object] | None) -> Chain:
    """The chain stored with an object (``(UNKNOWN,)`` for an object no conditional put wrote)."""
    raw = (attributes or {}).get(WRITE_TAG)
    tokens = tuple(t for t in str(raw).split(_SEPARATOR) if t) if raw else ()
    if not tokens:
        return (UNKNOWN,)
    if tokens[-1] not in (ORIGIN, UNKNOWN):
        tokens += (UNKNOWN,)  # written before chains existed: one id only
    return tokens


def successor(write_id: str, predecessor: Chain) -> str:
    """The stored chain of the write ``write_id`` that replaces an object of ``predecessor``."""
    chain = (write_id, *predecessor)
    if len(chain) > DEPTH:
        chain = (*chain[: DEPTH - 1], UNKNOWN)
    return _SEPARATOR.join(chain)


def verdict(write_id: str, predecessor: Chain, current: Chain | None) -> bool | None:
    """Whether the write ``write_id`` (which replaced ``predecessor``) landed.

    Args:
        write_id: the id of the write in question.
        predecessor: the chain of the object it was meant to replace (``(ORIGIN,)``
            for a create).
        current: the chain of the object there now (``None``: no object).

    Returns:
        True if it landed, False if it certainly did not, None if nobody can tell.
    """
    if current is None:
        return None  # deleted since: it may have landed first
    before = predecessor[0]
    for token in current:
        if token == write_id:
            return True
        if token == UNKNOWN:
            return None
        if token == before:
            return False  # someone else replaced the object this write meant to replace
    return None


class Lineage:
    """The chains of the versions of each key that this provider saw lately (bounded LRUs).

    A few versions per key, not only the last: concurrent writers sharing one
    provider each replace the version they read, which may not be the newest
    this provider has seen.
    """

    def __init__(self) -> None:
        self._seen: OrderedDict[str, OrderedDict[str, Chain]] = OrderedDict()

    def saw(self, key: str, etag: str | None, chain: Chain) -> None:
        """Remember that ``key`` had ``etag`` with ``chain``."""
        if etag is None:
            return
        versions = self._seen.get(key)
        if versions is None:
            versions = self._seen[key] = OrderedDict()
            if len(self._seen) > _REMEMBERED:
                self._seen.popitem(last=False)
        else:
            self._seen.move_to_end(key)
        versions[etag] = chain
        versions.move_to_end(etag)
        if len(versions) > _VERSIONS:
            versions.popitem(last=False)

    def of(self, key: str, etag: str) -> Chain:
        """The chain of ``key`` at ``etag`` if this provider saw it, else ``(UNKNOWN,)``."""
        versions = self._seen.get(key)
        found = versions.get(etag) if versions is not None else None
        return found if found is not None else (UNKNOWN,)
