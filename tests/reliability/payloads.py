"""Self-verifying payloads: any torn, mixed or truncated copy is detected.

A payload is ``seq (8 bytes) | sha256(body) (32 bytes) | body``, the body drawn
from a generator seeded with ``seq``, so the parent can tell which write it is
reading and that it is whole, without having seen it written.
"""

from __future__ import annotations

import hashlib
import random

__all__ = ["OBJECT_SIZE", "digest", "payload", "seq_of"]

#: The size of the crash test's object: 1 MiB.
OBJECT_SIZE = 1024 * 1024
_HEADER = 40


def payload(seq: int, size: int = OBJECT_SIZE) -> bytes:
    """The payload of write number ``seq``, ``size`` bytes long."""
    body = random.Random(seq).randbytes(size - _HEADER)
    return seq.to_bytes(8, "big") + hashlib.sha256(body).digest() + body


def seq_of(data: bytes) -> int:
    """The write number of ``data``.

    Raises:
        AssertionError: if ``data`` is not a whole payload (torn, mixed, truncated).
    """
    assert len(data) >= _HEADER, f"torn: only {len(data)} bytes"
    assert hashlib.sha256(data[_HEADER:]).digest() == data[8:_HEADER], "torn: body hash differs"
    seq = int.from_bytes(data[:8], "big")
    assert data == payload(seq, len(data)), f"torn: not the bytes of write {seq}"
    return seq


def digest(data: bytes) -> str:
    """The hex sha256 of ``data`` (what the writer acknowledges)."""
    return hashlib.sha256(data).hexdigest()
