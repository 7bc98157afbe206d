"""Where the artifact store keeps things: the key grammar, written once.

Layout under the provider's root (``<name>`` is the artifact name with every
segment that starts with ``@`` escaped by a second ``@``, so the store's own
``@``-names never collide with a user's):

- ``versions/<name>/@v/<12 digits>.json``: one immutable manifest per version,
  created with ``mode="create"``; it holds small content itself or references
  a blob;
- ``blobs/sha256/<2 hex>/<64 hex>``: content larger than ``inline_limit``,
  stored once per distinct sha256;
- ``heads/<name>/@head.json``: the artifact's head, replaced by
  compare-and-swap only;
- ``trash/sha256/<64 hex>``: blobs a running ``gc`` has set aside;
- ``gc/lease.json``: the lease of the one ``gc`` running.

Also the grammar users see: version ids (``v3``), aliases, artifact names.
Every key is built and parsed here and nowhere else; :mod:`.records` holds
what the keys contain.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .. import paths
from ..errors import InvalidPath, NotFound

__all__ = [
    "BLOBS",
    "HEADS",
    "HEAD_FILE",
    "LEASE_KEY",
    "TRASH",
    "VERSIONS",
    "blob_key",
    "check_alias",
    "head_key",
    "manifest_key",
    "manifests_prefix",
    "name_from_head_key",
    "name_from_manifest_key",
    "name_prefix",
    "number_from_manifest_key",
    "parse_version",
    "sha256_from_key",
    "trash_key",
    "validate_name",
    "version_id",
]

BLOBS = "blobs/sha256"
TRASH = "trash/sha256"
HEADS = "heads"
VERSIONS = "versions"
HEAD_FILE = "@head.json"
_VERSION_FOLDER = "@v"
#: The lease object of the one ``gc`` running.
LEASE_KEY = "gc/lease.json"
_DIGITS = 12
_MAX_NUMBER = 10**_DIGITS - 1

_VERSION_ID = re.compile(r"v?([1-9][0-9]{0,11})")
_ALIAS = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,63}")
SHA256 = re.compile(r"[0-9a-f]{64}")
_RESERVED_ALIASES = frozenset({"latest"})


@lru_cache(maxsize=4096)
def _escape(name: str) -> str:
    return "/".join("@" + s if s.startswith("@") else s for s in name.split("/"))


def _unescape(key: str) -> str:
    return "/".join(s[1:] if s.startswith("@") else s for s in key.split("/"))


def validate_name(name: str) -> str:
    """Return ``name`` if it is a valid artifact name (a key, see :mod:`storeroom.paths`).

    Valid names are remembered (an LRU): the rules run once per name, not on
    every read. An invalid name raises every time.

    Raises:
        InvalidPath: the name breaks a key rule, or is too long to be stored.
    """
    return _valid_name(name) if isinstance(name, str) else _check_name(name)


def _check_name(name: str) -> str:
    paths.validate_key(name)
    try:  # the longest keys made from the name; all others are as valid
        paths.validate_key(manifest_key(name, _MAX_NUMBER))
        paths.validate_key(head_key(name))
    except InvalidPath as exc:
        raise InvalidPath(
            f"artifact name {name!r} is too long to store ({exc})", path=name
        ) from None
    return name


_valid_name = lru_cache(maxsize=4096)(_check_name)


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
    if not isinstance(prefix, str):
        raise InvalidPath(f"a name prefix is a str, not {type(prefix).__name__}")
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
    return name if SHA256.fullmatch(name) else None


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
