"""The artifact store's records and where they live: keys, version ids, JSON.

Layout under the provider's root (``<name>`` is the artifact name with every
segment that starts with ``@`` escaped by a second ``@``, so the store's own
``@``-names never collide with a user's):

- ``versions/<name>/@v/<12 digits>.json``: one immutable manifest per version
  (:class:`ArtifactVersion`), created with ``mode="create"``. It records the
  content's sha256 and size, and either holds the content itself (``inline``:
  content of at most ``inline_limit`` bytes, as UTF-8 text or base64) or
  references the blob below;
- ``blobs/sha256/<2 hex>/<64 hex>``: content larger than ``inline_limit``,
  stored once per distinct sha256;
- ``heads/<name>/@head.json``: the artifact's head (:class:`Head`), replaced by
  compare-and-swap only: highest allocated number, floor, deleted numbers,
  aliases and a copy of the newest live manifest (inline content included);
- ``trash/sha256/<64 hex>``: blobs a running ``gc`` has set aside;
- ``gc/lease.json``: the lease of the one ``gc`` running.

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
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from .. import paths
from ..errors import IntegrityError, InvalidPath, NotFound

__all__ = [
    "BLOBS",
    "HEADS",
    "HEAD_FILE",
    "TRASH",
    "VERSIONS",
    "ArtifactVersion",
    "Head",
    "blob_key",
    "check_alias",
    "dump_json",
    "head_key",
    "listing_entry",
    "manifest_key",
    "manifests_prefix",
    "name_from_head_key",
    "name_from_manifest_key",
    "name_prefix",
    "number_from_manifest_key",
    "parse_version",
    "prepare_content",
    "sha256_from_key",
    "trash_key",
    "utcnow",
    "validate_name",
    "version_id",
]

BLOBS = "blobs/sha256"
TRASH = "trash/sha256"
HEADS = "heads"
VERSIONS = "versions"
HEAD_FILE = "@head.json"
_VERSION_FOLDER = "@v"
_DIGITS = 12
_MAX_NUMBER = 10**_DIGITS - 1
#: The newest record format this storeroom reads; readers refuse newer ones.
FORMAT = 2
#: The format of a record that references a blob (readable by every storeroom).
_BLOB_FORMAT = 1

_VERSION_ID = re.compile(r"v?([1-9][0-9]{0,11})")
_ALIAS = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,63}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_RESERVED_ALIASES = frozenset({"latest"})


@lru_cache(maxsize=4096)
def _escape(name: str) -> str:
    return "/".join("@" + s if s.startswith("@") else s for s in name.split("/"))


def _unescape(key: str) -> str:
    return "/".join(s[1:] if s.startswith("@") else s for s in key.split("/"))


def validate_name(name: str) -> str:
    """Return ``name`` if it is a valid artifact name (a key, see :mod:`storeroom.paths`).

    Raises:
        InvalidPath: the name breaks a key rule, or is too long to be stored.
    """
    paths.validate_key(name)
    try:  # the longest keys made from the name; all others are as valid
        paths.validate_key(manifest_key(name, _MAX_NUMBER))
        paths.validate_key(head_key(name))
    except InvalidPath as exc:
        raise InvalidPath(
            f"artifact name {name!r} is too long to store ({exc})", path=name
        ) from None
    return name


def blob_key(sha256: str) -> str:
    """The key of the blob with this hex sha256."""
    return f"{BLOBS}/{sha256[:2]}/{sha256}"


def trash_key(sha256: str) -> str:
    """Where ``gc`` sets the blob aside while it re-checks references."""
    return f"{TRASH}/{sha256}"


def head_key(name: str) -> str:
    """The key of an artifact's head (valid if the name passed :func:`validate_name`)."""
    return f"{HEADS}/{_escape(name)}/{HEAD_FILE}"


def manifests_prefix(name: str) -> str:
    """The folder holding every manifest of an artifact."""
    return f"{VERSIONS}/{_escape(name)}/{_VERSION_FOLDER}/"


def manifest_key(name: str, number: int) -> str:
    """The key of version ``number``'s manifest (valid if the name passed :func:`validate_name`)."""
    return f"{manifests_prefix(name)}{number:0{_DIGITS}d}.json"


def name_prefix(tree: str, prefix: str) -> tuple[str, str]:
    """The folder of ``tree`` to list for names starting with ``prefix``, and the filter.

    ``"reports/q"`` lists ``<tree>/reports/`` and keeps names starting with
    ``"reports/q"``; ``""`` lists the whole tree.
    """
    folder = paths.parent(prefix)
    if folder:
        paths.validate_prefix(folder)
    return f"{tree}/{_escape(folder)}", prefix


def name_from_head_key(key: str) -> str | None:
    """The artifact name of a key under ``heads/``, or ``None`` if it is not a head."""
    body, sep, last = key[len(HEADS) + 1 :].rpartition("/")
    if not sep or last != HEAD_FILE:
        return None
    return _unescape(body)


def name_from_manifest_key(key: str) -> tuple[str, int] | None:
    """The artifact name and version number of a key under ``versions/``, if it is a manifest."""
    body, sep, _ = key[len(VERSIONS) + 1 :].rpartition(f"/{_VERSION_FOLDER}/")
    number = number_from_manifest_key(key)
    if not sep or number is None:
        return None
    return _unescape(body), number


def sha256_from_key(key: str) -> str | None:
    """The hex sha256 a blob or trash key names, ``None`` for anything else."""
    name = paths.basename(key)
    return name if _SHA256.fullmatch(name) else None


def number_from_manifest_key(key: str) -> int | None:
    """The version number of a manifest key, or ``None`` if it is not one."""
    stem = paths.basename(key).removesuffix(".json")
    if len(stem) != _DIGITS or not stem.isdigit():
        return None
    return int(stem)


def version_id(number: int) -> str:
    """The public id of version ``number``: ``"v3"``."""
    return f"v{number}"


def parse_version(version: str) -> int | None:
    """The number of a version id (``"v3"`` or ``"3"``), ``None`` if ``version`` is an alias.

    Raises:
        NotFound: ``version`` is neither a version id nor a possible alias
            (``"0"``, ``"-1"``, ``"01"``, ``"1e3"``, ``""``).
    """
    if not isinstance(version, str):
        raise NotFound(f"a version is a str such as 'v3', not {type(version).__name__}")
    found = _VERSION_ID.fullmatch(version)
    if found:
        return int(found.group(1))
    if _ALIAS.fullmatch(version) and not version[0].isdigit():
        return None
    raise NotFound(
        f"no version {version!r}: versions are v1, v2, ... (no sign, no leading zero) "
        "or an alias (a letter, then letters, digits, '.', '_', '-')"
    )


def check_alias(alias: str) -> str:
    """Return ``alias`` if a user may set it.

    Raises:
        InvalidPath: not an alias name, a version id, or the reserved ``latest``.
    """
    if not isinstance(alias, str) or not _ALIAS.fullmatch(alias):
        raise InvalidPath(
            f"invalid alias {alias!r}: a letter, then up to 63 letters, digits, '.', '_', '-'"
        )
    if _VERSION_ID.fullmatch(alias) or alias in _RESERVED_ALIASES:
        raise InvalidPath(f"{alias!r} is reserved (a version id or 'latest')")
    return alias


def dump_json(record: Mapping[str, Any]) -> bytes:
    """Compact JSON bytes."""
    return json.dumps(record, separators=(",", ":"), allow_nan=False).encode("utf-8")


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

    @property
    def version(self) -> str:
        """The version id, ``"v3"``."""
        return version_id(self.number)

    @property
    def blob(self) -> str | None:
        """The sha256 of the blob this version references, ``None`` if its content is inline."""
        return self.sha256 if self.inline is None else None

    def verify(self, data: bytes, where: str) -> bytes:
        """Return ``data`` if it is this version's content (size and sha256).

        Raises:
            IntegrityError: it is not (``where`` names what was read).
        """
        if len(data) != self.size or hashlib.sha256(data).hexdigest() != self.sha256:
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
            "created": self.created.isoformat(),
        }
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
            )
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise IntegrityError(f"malformed manifest at {key!r}: {exc!r}", path=key) from exc
        if not _SHA256.fullmatch(version.sha256) or version.encoding not in (None, "utf-8"):
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
                "deleted": sorted(self.deleted),
                "created": self.created.isoformat() if self.created else None,
                "aliases": dict(sorted(self.aliases.items())),
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
    content: str | bytes, content_type: str, metadata: Mapping[str, Any] | None
) -> tuple[bytes, str | None, dict[str, Any]]:
    """Content bytes, their text encoding (``None``: binary) and JSON-clean metadata."""
    if not isinstance(content_type, str) or not content_type:
        raise ValueError("content_type must be a non-empty str")
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
    clean = json.loads(json.dumps(dict(metadata), allow_nan=False))
    return data, encoding, clean


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
        "created_at": (head.created or latest.created).isoformat(),
        "updated_at": latest.created.isoformat(),
        "metadata": dict(latest.metadata),
        "aliases": aliases,
    }


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)
