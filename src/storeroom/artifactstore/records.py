"""The artifact store's records: manifests, heads, and how content goes into them.

:class:`ArtifactVersion` is one immutable manifest (``versions/.../@v/...``):
the content's sha256 and size, and either the content itself (``inline``:
content of at most ``inline_limit`` bytes, as UTF-8 text or base64) or a
reference to its blob. :class:`Head` is an artifact's head: highest allocated
number, floor, deleted numbers, aliases and a copy of the newest live manifest
(inline content included). Where they are stored is :mod:`.layout`'s business.

Records carry a ``format``: 1 for manifests that reference a blob (and heads
whose copy does), 2 for those holding inline content. Readers refuse a format
newer than :data:`FORMAT`, so an older storeroom fails clearly on inline
records instead of looking for a blob that was never written.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from ..errors import IntegrityError
from .layout import SHA256, manifest_key, number_from_manifest_key, version_id

__all__ = [
    "FORMAT",
    "ArtifactVersion",
    "Head",
    "dump_json",
    "iso",
    "listing_entry",
    "prepare_content",
    "utcnow",
]

#: The newest record format this storeroom reads; readers refuse newer ones.
FORMAT = 2
#: The format of a record that references a blob (readable by every storeroom).
_BLOB_FORMAT = 1


#: One compact encoder for every record (``json.dumps`` with options builds one per call).
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def dump_json(record: Mapping[str, Any]) -> bytes:
    """Compact JSON bytes."""
    return _ENCODER.encode(record).encode("utf-8")


def _load_json(data: bytes, key: str) -> dict[str, Any]:
    try:
        record = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise IntegrityError(f"unreadable record at {key!r}: {exc}", path=key) from exc
    if not isinstance(record, dict):
        raise IntegrityError(f"unreadable record at {key!r}: not an object", path=key)
    if record.get("format", 0) > FORMAT:
        raise IntegrityError(
            f"record at {key!r} has format {record['format']}, newer than this storeroom",
            path=key,
        )
    return record


def _inline_record(data: bytes, encoding: str | None) -> dict[str, str]:
    """Inline content as stored in a manifest: text as it is, anything else in base64."""
    if encoding is not None:
        return {"text": data.decode(encoding)}
    return {"base64": base64.b64encode(data).decode("ascii")}


def _inline_content(record: Any, encoding: str | None) -> bytes | None:
    """The inline content of a manifest record (``None``: the content is a blob).

    Raises:
        ValueError, TypeError: the ``inline`` entry is malformed.
    """
    if record is None:
        return None
    if not isinstance(record, dict) or len(record) != 1:
        raise ValueError("inline content is one of {'text': ...} or {'base64': ...}")
    if "text" in record and encoding is not None:
        return str(record["text"]).encode(encoding)
    if "base64" in record:
        return base64.b64decode(str(record["base64"]), validate=True)
    raise ValueError("inline text of binary content")


def _optional_str(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"expected a str or null, not {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class ArtifactVersion:
    """One version of an artifact, as its immutable manifest records it.

    Attributes:
        name: the artifact name.
        number: the version number (``version`` is its id, ``"v3"``).
        sha256: hex sha256 of the content (and, unless inline, the blob's address).
        size: content length in bytes.
        content_type: as given to ``store_artifact``.
        encoding: ``"utf-8"`` if the content is text, ``None`` if it is binary.
        metadata: the caller's metadata (JSON values).
        created: when the version was stored (UTC).
        inline: the content itself if the manifest holds it, ``None`` if it is
            in the blob at ``sha256``. Unverified: :meth:`verify` before use.
        inputs: the versions this one was made from, ``(name, number)`` each
            (lineage; absent from older manifests, which read as ``()``).
        message: what the change was, as given to ``store_artifact`` (vibex's
            commit message), or ``None``.
    """

    name: str
    number: int
    sha256: str
    size: int
    content_type: str
    encoding: str | None
    metadata: Mapping[str, Any]
    created: datetime
    inline: bytes | None = None
    inputs: tuple[tuple[str, int], ...] = ()
    message: str | None = None

    @property
    def version(self) -> str:
        """The version id, ``"v3"``."""
        return version_id(self.number)

    @property
    def blob(self) -> str | None:
        """The sha256 of the blob this version references, ``None`` if its content is inline."""
        return self.sha256 if self.inline is None else None

    def verify(self, data: bytes, where: str | None = None) -> bytes:
        """Return ``data`` if it is this version's content (size and sha256).

        Raises:
            IntegrityError: it is not (``where`` names what was read; by
                default the manifest, where inline content is kept).
        """
        if len(data) != self.size or hashlib.sha256(data).hexdigest() != self.sha256:
            if where is None:
                where = manifest_key(self.name, self.number)
            raise IntegrityError(
                f"the content of {self.name!r} {self.version} does not match "
                f"its sha256 {self.sha256}",
                path=where,
            )
        return data

    def to_record(self) -> dict[str, Any]:
        """The manifest as a JSON-ready dict."""
        record: dict[str, Any] = {
            "format": _BLOB_FORMAT if self.inline is None else FORMAT,
            "name": self.name,
            "version": self.number,
            "sha256": self.sha256,
            "size": self.size,
            "content_type": self.content_type,
            "encoding": self.encoding,
            "metadata": dict(self.metadata),
            "created": iso(self.created),
        }
        if self.message is not None:
            record["message"] = self.message
        if self.inline is not None:
            record["inline"] = _inline_record(self.inline, self.encoding)
        if self.inputs:
            record["inputs"] = [{"name": n, "version": v} for n, v in self.inputs]
        return record

    def to_json(self) -> bytes:
        """The manifest as stored."""
        return dump_json(self.to_record())

    @classmethod
    def from_record(cls, record: Mapping[str, Any], key: str) -> ArtifactVersion:
        """Rebuild a version from its manifest record (with or without inline content).

        Raises:
            IntegrityError: the record is malformed.
        """
        try:
            encoding = record["encoding"]
            version = cls(
                name=str(record["name"]),
                number=int(record["version"]),
                sha256=str(record["sha256"]),
                size=int(record["size"]),
                content_type=str(record["content_type"]),
                encoding=encoding,
                metadata=dict(record["metadata"]),
                created=datetime.fromisoformat(record["created"]),
                inline=_inline_content(record.get("inline"), encoding),
                inputs=tuple(
                    (str(i["name"]), int(i["version"])) for i in record.get("inputs", ())
                ),
                message=_optional_str(record.get("message")),
            )
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise IntegrityError(f"malformed manifest at {key!r}: {exc!r}", path=key) from exc
        if not SHA256.fullmatch(version.sha256) or version.encoding not in (None, "utf-8"):
            raise IntegrityError(f"malformed manifest at {key!r}", path=key)
        return version

    @classmethod
    def from_json(cls, data: bytes, key: str) -> ArtifactVersion:
        """Parse a stored manifest; the number must match the one in ``key``.

        Raises:
            IntegrityError: the manifest is unreadable or stored under another number.
        """
        version = cls.from_record(_load_json(data, key), key)
        if number_from_manifest_key(key) != version.number:
            raise IntegrityError(f"manifest at {key!r} records v{version.number}", path=key)
        return version


@dataclass(frozen=True, slots=True)
class Head:
    """An artifact's head: the small record ``list_artifacts`` reads, changed by CAS only.

    ``latest`` is a full copy of the newest live manifest, inline content
    included, so the latest version reads from the head alone.

    Attributes:
        name: the artifact name.
        allocated: every number up to this one has a manifest (or had one below
            ``floor``); a writer that died before updating the head can leave
            manifests above it, which readers find by probing.
        floor: numbers up to here are gone for good (their manifests may be
            deleted); they are never allocated again.
        deleted: deleted numbers above ``floor``.
        created: when the artifact's first version was stored.
        latest: the newest live version up to ``allocated``, ``None`` if none.
        aliases: user alias -> version number.
    """

    name: str
    allocated: int = 0
    floor: int = 0
    deleted: frozenset[int] = frozenset()
    created: datetime | None = None
    latest: ArtifactVersion | None = None
    aliases: Mapping[str, int] = field(default_factory=dict)

    def is_live(self, number: int) -> bool:
        """Whether ``number`` is above the floor and not deleted (it may not exist yet)."""
        return number > self.floor and number not in self.deleted

    @property
    def count(self) -> int:
        """Live versions up to ``allocated``."""
        return self.allocated - self.floor - len(self.deleted)

    def to_json(self, latest: bytes | None = None) -> bytes:
        """The head as stored.

        Args:
            latest: ``self.latest``'s manifest exactly as stored, if at hand
                (spares serializing it, inline content included, twice).
        """
        if latest is None:
            latest = self.latest.to_json() if self.latest else b"null"
        inline = self.latest is not None and self.latest.inline is not None
        rest = dump_json(
            {
                "format": FORMAT if inline else _BLOB_FORMAT,
                "name": self.name,
                "allocated": self.allocated,
                "floor": self.floor,
                "deleted": sorted(self.deleted) if self.deleted else [],
                "created": iso(self.created) if self.created else None,
                "aliases": dict(sorted(self.aliases.items())) if self.aliases else {},
            }
        )
        return b"%s,\"latest\":%s}" % (rest[:-1], latest)

    @classmethod
    def from_json(cls, data: bytes, key: str) -> Head:
        """Parse a stored head.

        Raises:
            IntegrityError: the head is unreadable.
        """
        record = _load_json(data, key)
        try:
            latest = record["latest"]
            created = record["created"]
            return cls(
                name=str(record["name"]),
                allocated=int(record["allocated"]),
                floor=int(record["floor"]),
                deleted=frozenset(int(n) for n in record["deleted"]),
                created=datetime.fromisoformat(created) if created else None,
                latest=ArtifactVersion.from_record(latest, key) if latest else None,
                aliases={str(k): int(v) for k, v in record["aliases"].items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise IntegrityError(f"malformed head at {key!r}: {exc!r}", path=key) from exc


def prepare_content(
    content: str | bytes,
    content_type: str,
    metadata: Mapping[str, Any] | None,
    message: str | None = None,
) -> tuple[bytes, str | None, dict[str, Any]]:
    """Content bytes, their text encoding (``None``: binary) and JSON-clean metadata.

    Raises:
        TypeError, ValueError: an argument that cannot be stored.
    """
    if not isinstance(content_type, str) or not content_type:
        raise ValueError("content_type must be a non-empty str")
    if not (content_type.isascii() and content_type.isprintable()):
        raise ValueError(f"content_type must be printable ASCII (a MIME type): {content_type!r}")
    if message is not None and not isinstance(message, str):
        raise TypeError(f"commit_message must be a str, not {type(message).__name__}")
    if message is not None:
        message.encode("utf-8")  # UnicodeEncodeError (a ValueError): a lone surrogate
        if "\x00" in message:
            raise ValueError("commit_message cannot hold a NUL character")
    encoding: str | None = "utf-8"
    if isinstance(content, str):
        data = content.encode("utf-8")
    elif isinstance(content, (bytes, bytearray, memoryview)):
        data = bytes(content)
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            encoding = None
    else:
        raise TypeError(f"content must be str or bytes, not {type(content).__name__}")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must be a dict, not {type(metadata).__name__}")
    if not metadata:  # nothing to clean: spare a JSON round trip on the hot path
        return data, encoding, {}
    try:  # (UTF-8 bytes, not ASCII escapes: a lone surrogate fails here, not in a reader)
        encoded = json.dumps(dict(metadata), allow_nan=False, ensure_ascii=False).encode("utf-8")
    except RecursionError:
        raise ValueError("metadata is nested too deeply to be stored") from None
    clean = json.loads(encoded)
    if b"u0000" in encoded and _holds_nul(clean):  # (the index's text columns refuse it)
        raise ValueError("metadata cannot hold a NUL character")
    return data, encoding, clean


def _holds_nul(value: Any) -> bool:
    """Whether a JSON value has a NUL character in any string, key or value."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def listing_entry(head: Head, latest: ArtifactVersion) -> dict[str, Any]:
    """The ``list_artifacts`` entry of an artifact whose newest live version is ``latest``."""
    aliases = {"latest": latest.version}
    aliases.update((alias, version_id(n)) for alias, n in sorted(head.aliases.items()))
    return {
        "name": head.name,
        "version": latest.version,
        "versions": head.count,
        "size": latest.size,
        "content_type": latest.content_type,
        "sha256": latest.sha256,
        "text": latest.encoding is not None,
        "created_at": iso(head.created or latest.created),
        "updated_at": iso(latest.created),
        "metadata": dict(latest.metadata),
        "message": latest.message,
        "aliases": aliases,
    }


@lru_cache(maxsize=1024)
def iso(when: datetime) -> str:
    """``when.isoformat()``, remembered: a version's and a head's times are written
    and shown again and again."""
    return when.isoformat()


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)
