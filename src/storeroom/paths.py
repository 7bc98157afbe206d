"""The key rules: one place, used by every backend.

A key is a POSIX-style relative path such as ``reports/2026/q1.md``: the same
rules on every backend, so data moves between them unchanged. Rejected with
:class:`~storeroom.errors.InvalidPath`:

- empty keys, absolute keys, a trailing ``/`` and empty segments (``a//b``);
- ``.`` and ``..`` segments, also percent-encoded (``%2e%2e``);
- backslashes, drives (``C:x``, also ``1:x``), NUL, control and bidi/format characters;
- Windows device names (``NUL``, ``COM1``, ``con.txt``) and segments that end
  in a dot or a space (Windows would silently strip them);
- keys not in Unicode NFC form (so NFC/NFD twins cannot both exist);
- segments longer than 255 bytes and keys longer than 1024 bytes (UTF-8);
- segments starting with ``.sr-``, reserved for storeroom's own files.

These are the rules for names storeroom *creates* (:func:`validate_key`:
``put``, ``write_stream``, ``makedirs``, the target of ``copy``/``rename``).
Names that other tools wrote (``draft.``, ``con.txt``, NFD names) must stay
reachable, so reading, listing and deleting an *existing* name checks only
that it is safe to address (:func:`validate_address`): a non-empty relative
path with no empty, ``.`` or ``..`` segment, no ASCII control character
(NUL, newline, ...: no object store can address them) and no reserved
segment, so it names one object under the root and nothing outside it.
:func:`address_problem` says why a listed key is not addressable (listings
report such keys in ``Listing.skipped`` instead of failing).

A *prefix* is a folder: ``""`` (everything) or an addressable key, with or
without a trailing ``/``. ``list("a/b")`` finds ``a/b/c`` but never ``a/bc``.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from .errors import InvalidPath

__all__ = [
    "FOLDER_MARKER",
    "MAX_KEY_BYTES",
    "MAX_SEGMENT_BYTES",
    "RESERVED_PREFIX",
    "address_problem",
    "basename",
    "join",
    "parent",
    "validate_address",
    "validate_key",
    "validate_prefix",
]

MAX_KEY_BYTES = 1024
MAX_SEGMENT_BYTES = 255
#: Segments starting with this are storeroom's own (temp files, locks, markers).
RESERVED_PREFIX = ".sr-"
#: The name of the empty object that marks a folder made by ``makedirs`` on
#: backends without real folders (object stores, memory); hidden from listings.
FOLDER_MARKER = RESERVED_PREFIX + "dir"

_DEVICE_NAMES = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{kind}{n}" for kind in ("COM", "LPT") for n in "0123456789¹²³"]
)
_BAD_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_ENCODED_DOT = re.compile(r"%2e", re.IGNORECASE)
_ENCODED_SEPARATOR = re.compile(r"%(2f|5c)", re.IGNORECASE)
# Any character then ":" is a drive to Windows and ntpath ("1:x" joins to "1:x").
_DRIVE = re.compile(r"^[^/]:")
# Keys made only of these characters need no per-character Unicode check.
_PLAIN = re.compile(r"[A-Za-z0-9._~+=,@#$()\[\]{}!&'/ -]*")
# The fast path: a key of plain ASCII segments that no rule can refuse. Anything
# it does not match goes through every rule below (which also names the one broken).
_SEGMENT = (
    r"(?!(?i:\.sr-))"  # reserved for storeroom
    r"(?!(?i:CON|PRN|AUX|NUL|CONIN\$|CONOUT\$|COM[0-9]|LPT[0-9]) *(?:\.|/|\Z))"  # devices
    r"[A-Za-z0-9._~+=,@#$()\[\]{}!&' -]{0,254}"
    r"[A-Za-z0-9_~+=,@#$()\[\]{}!&'-]"  # never ends in "." or " "
)
_FAST = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")


def _fail(key: object, why: str) -> InvalidPath:
    shown = repr(key) if len(repr(key)) <= 120 else repr(key)[:117] + "..."
    return InvalidPath(f"invalid key {shown}: {why}", path=None)


def _check_segment(key: str, segment: str) -> None:
    if segment == "":
        raise _fail(key, "empty segment (leading, trailing or doubled '/')")
    if segment in (".", ".."):
        raise _fail(key, f"'{segment}' segments are not allowed")
    if "%" in segment:
        if _ENCODED_SEPARATOR.search(segment):
            raise _fail(key, "percent-encoded '/' or '\\' is not allowed")
        if _ENCODED_DOT.sub(".", segment) in (".", ".."):
            raise _fail(key, "percent-encoded '.' or '..' segments are not allowed")
    if segment[: len(RESERVED_PREFIX)].lower() == RESERVED_PREFIX:  # also on case-blind disks
        raise _fail(key, f"segments starting with {RESERVED_PREFIX!r} are reserved")
    if segment[-1] in ". ":
        raise _fail(key, "a segment may not end with a dot or a space")
    if segment.split(".", 1)[0].rstrip(" ").upper() in _DEVICE_NAMES:
        raise _fail(key, "Windows device names (CON, NUL, COM1, ...) are not allowed")
    if len(segment.encode("utf-8", "surrogatepass")) > MAX_SEGMENT_BYTES:
        raise _fail(key, f"a segment is longer than {MAX_SEGMENT_BYTES} bytes")


def validate_key(key: str) -> str:
    """Return ``key`` unchanged if it follows the key rules.

    Raises:
        InvalidPath: naming the rule the key breaks.
    """
    if not isinstance(key, str):
        raise _fail(key, f"a key is a str, not {type(key).__name__}")
    return _validate(key)


@lru_cache(maxsize=8192)
def _validate(key: str) -> str:
    if len(key) <= MAX_KEY_BYTES and _FAST.fullmatch(key):
        return key
    return _validate_by_rules(key)


def _validate_by_rules(key: str) -> str:
    if not key:
        raise _fail(key, "empty")
    if key[0] == "/":
        raise _fail(key, "absolute paths are not allowed")
    if "\\" in key:
        raise _fail(key, "backslashes are not allowed")
    if _DRIVE.match(key):
        raise _fail(key, "drive letters are not allowed")
    if not _PLAIN.fullmatch(key):
        for char in key:
            if unicodedata.category(char) in _BAD_CATEGORIES:
                raise _fail(key, f"control or format character U+{ord(char):04X}")
        if unicodedata.normalize("NFC", key) != key:
            raise _fail(key, "not in Unicode NFC form")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise _fail(key, f"longer than {MAX_KEY_BYTES} bytes")
    for segment in key.split("/"):
        _check_segment(key, segment)
    return key


# An addressable key: segments without NUL or "/", none empty, "." or "..", none reserved.
_ADDRESS_SEGMENT = r"(?!\.\.?(?:/|\Z))(?!(?i:\.sr-))[^/\x00-\x1f\x7f\ud800-\udfff]+"
_ADDRESS = re.compile(rf"{_ADDRESS_SEGMENT}(?:/{_ADDRESS_SEGMENT})*")


def address_problem(key: object) -> str | None:
    """Why ``key`` cannot be addressed safely, or ``None`` if it can.

    An addressable key is a relative path whose segments are not empty, not
    ``.`` or ``..``, contain no ASCII control character and do not start with
    the reserved ``.sr-``:
    it names one object under a root and cannot reach outside it, whatever
    else it holds (trailing dots, device names, any Unicode form).
    """
    # The common case in C-speed string tests: printable, no "//", no segment with a dot first.
    if (
        type(key) is str
        and key.isprintable()
        and key
        and key[0] not in "/."
        and key[-1] != "/"
        and "//" not in key
        and "/." not in key
    ):
        return None
    if not isinstance(key, str):
        return f"a key is a str, not {type(key).__name__}"
    if _ADDRESS.fullmatch(key):
        return None
    if not key:
        return "empty"
    if key[0] == "/":
        return "absolute paths are not allowed"
    for char in key:
        if char < " " or char == "\x7f":  # no object store can address them
            return f"control character U+{ord(char):04X}"
    try:  # names read from a POSIX disk carry undecodable bytes as U+DC80..U+DCFF
        key.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return "a lone surrogate that no file system or store can hold"
    for segment in key.split("/"):
        if segment == "":
            return "empty segment (leading, trailing or doubled '/')"
        if segment in (".", ".."):
            return f"'{segment}' segments are not allowed"
        if segment[: len(RESERVED_PREFIX)].lower() == RESERVED_PREFIX:
            return f"segments starting with {RESERVED_PREFIX!r} are reserved"
    return None


def validate_address(key: str) -> str:
    """Return ``key`` unchanged if it names an existing object safely (see module doc).

    Raises:
        InvalidPath: naming the rule the key breaks.
    """
    problem = address_problem(key)
    if problem is None:  # undecodable bytes of a POSIX name (U+DC80..U+DCFF)
        return key
    raise _fail(key, problem)


def validate_prefix(prefix: str) -> str:
    """Return ``prefix`` as ``""`` or ``"a/b/"`` (always ending in ``/``).

    Raises:
        InvalidPath: if the prefix without its trailing ``/`` is not addressable.
    """
    if prefix in ("", "/", "."):
        return ""
    stripped = prefix[:-1] if prefix.endswith("/") else prefix
    return validate_address(stripped) + "/"


def join(*parts: str) -> str:
    """Join key parts with ``/`` and validate the result."""
    return validate_key("/".join(part.strip("/") for part in parts if part.strip("/")))


def parent(key: str) -> str:
    """The folder of ``key`` as a prefix: ``"a/b/"`` for ``"a/b/c"``, ``""`` at the top."""
    head, sep, _ = key.rpartition("/")
    return head + sep


def basename(key: str) -> str:
    """The last segment of ``key``."""
    return key.rpartition("/")[2]
