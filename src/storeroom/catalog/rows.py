"""What ``find`` returns, and the rules every backend must answer by.

:class:`Entry` is one version as the catalog sees it. This module is the
reference semantics of the language: :func:`matches` evaluates a tree on an
entry in Python (the scan uses it; the SQL translation in ``sql.py`` is tested
to give the same answers). The rules that keep all backends identical:

- no NULL logic: a comparison on a missing metadata key is false, and ``!=``
  is ``not =`` (so it is true there);
- a metadata value compares only with a literal of its own kind (string with
  string, number with number as 64-bit floats, boolean, null);
- text compares by code point (SQLite's BINARY, PostgreSQL's ``"C"``);
- ``LIKE`` is case-sensitive: ``%`` any run, ``_`` one character, ``\\`` escapes.

Ordering is total (``name``, ``version`` are appended as tie-breakers) and the
page token carries the last entry's sort key, so the next page starts right
after it (keyset paging): versions added meanwhile never shift a page.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from .query import And, Compare, Field, FilterError, InList, Latest, Like, Node, Not, Or, micros

__all__ = [
    "ORDER_FIELDS",
    "Entry",
    "FindPage",
    "Order",
    "after",
    "compare_keys",
    "decode_token",
    "encode_token",
    "like_regex",
    "matches",
    "meta_kind",
    "parse_order",
]

#: Fields ``order_by`` accepts.
ORDER_FIELDS = ("name", "version", "created", "size", "content_type", "sha256")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class Entry:
    """One version found: its manifest's fields (no content), user aliases and inputs."""

    name: str
    number: int
    sha256: str
    size: int
    content_type: str
    text: bool
    created_us: int
    metadata: Mapping[str, Any]
    aliases: tuple[str, ...] = ()
    inputs: tuple[tuple[str, int], ...] = ()
    latest: bool = False

    @property
    def version(self) -> str:
        """The version id, ``"v3"``."""
        return f"v{self.number}"

    @property
    def created(self) -> datetime:
        """When the version was stored (UTC)."""
        return _EPOCH + timedelta(microseconds=self.created_us)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "name": self.name,
            "version": self.version,
            "size": self.size,
            "content_type": self.content_type,
            "text": self.text,
            "sha256": self.sha256,
            "created": self.created.isoformat(),
            "metadata": dict(self.metadata),
            "aliases": list(self.aliases),
            "inputs": [f"{name}@v{number}" for name, number in self.inputs],
            "latest": self.latest,
        }

    def sort_value(self, name: str) -> str | int:
        """The value ``order_by`` sorts ``name`` by."""
        if name == "version":
            return self.number
        if name == "created":
            return self.created_us
        value: str | int = getattr(self, name)
        return value


@dataclass(frozen=True, slots=True)
class FindPage:
    """One page of ``find``.

    Attributes:
        entries: the versions found, in order.
        next_page_token: pass it as ``page_token`` for the next page; ``None`` at the end.
        source: ``"scan"``, ``"sqlite"`` or ``"postgresql"``.
        as_of: the index is complete for every change made before this time
            (changes after it are in if their writer notified the index, which
            every writer that did not die does); ``None`` for a scan (exact now).
    """

    entries: list[Entry]
    next_page_token: str | None
    source: str
    as_of: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


#: ``(field, descending)`` pairs.
Order = tuple[tuple[str, bool], ...]


def parse_order(order_by: str | Sequence[str] | None) -> Order:
    """``["created desc", "name"]`` -> the order, with ``name``, ``version`` appended.

    Raises:
        FilterError: an unknown field or direction.
    """
    items = [order_by] if isinstance(order_by, str) else list(order_by or [])
    order: list[tuple[str, bool]] = []
    for item in items:
        words = str(item).split()
        if not words or len(words) > 2 or words[0].lower() not in ORDER_FIELDS:
            raise FilterError(
                f"cannot order by {item!r}: a field ({', '.join(ORDER_FIELDS)}) "
                "optionally followed by asc or desc"
            )
        direction = words[1].lower() if len(words) == 2 else "asc"
        if direction not in ("asc", "desc"):
            raise FilterError(f"cannot order by {item!r}: expected asc or desc after the field")
        if all(words[0].lower() != known for known, _ in order):
            order.append((words[0].lower(), direction == "desc"))
    for tie in ("name", "version"):
        if all(tie != known for known, _ in order):
            order.append((tie, False))
    return tuple(order)


def compare_keys(a: Sequence[Any], b: Sequence[Any], order: Order) -> int:
    """-1, 0 or 1: where sort key ``a`` stands against ``b`` in ``order``."""
    for x, y, (_, desc) in zip(a, b, order, strict=False):
        if x != y:
            less = x < y
            return (1 if less else -1) if desc else (-1 if less else 1)
    return 0


def sort_key(order: Order) -> Any:
    """A ``key=`` for ``sorted`` / ``heapq`` that sorts entries in ``order``."""
    return functools.cmp_to_key(
        lambda a, b: compare_keys(
            [a.sort_value(f) for f, _ in order], [b.sort_value(f) for f, _ in order], order
        )
    )


def after(entry: Entry, last: Sequence[Any] | None, order: Order) -> bool:
    """Whether ``entry`` comes after the sort key ``last`` (always, if ``None``)."""
    if last is None:
        return True
    return compare_keys([entry.sort_value(f) for f, _ in order], last, order) > 0


def _signature(tree: Node | None, order: Order) -> str:
    return hashlib.sha256(repr((tree, order)).encode()).hexdigest()[:16]


def encode_token(entry: Entry, tree: Node | None, order: Order) -> str:
    """The page token that continues right after ``entry``."""
    record = {"after": [entry.sort_value(f) for f, _ in order], "q": _signature(tree, order)}
    return base64.urlsafe_b64encode(json.dumps(record).encode()).decode().rstrip("=")


def decode_token(token: str | None, tree: Node | None, order: Order) -> list[Any] | None:
    """The sort key a page token continues after (``None``: the first page).

    Raises:
        FilterError: the token is malformed or belongs to another filter or order.
    """
    if token is None:
        return None
    try:
        record = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        last = record["after"]
        ok = record["q"] == _signature(tree, order) and len(last) == len(order)
        ok = ok and all(
            isinstance(v, str if f in ("name", "content_type", "sha256") else int)
            and not isinstance(v, bool)
            for v, (f, _) in zip(last, order, strict=False)
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        ok = False
    if not ok:
        raise FilterError("invalid page token: pass the one the previous page of this query gave")
    return list(last)


def meta_kind(value: Any) -> tuple[str, str | float | None]:
    """How a metadata value is indexed: ``('s', text)``, ``('n', float)``, ``('b', 1.0|0.0)``,
    ``('z', None)`` for null, ``('j', None)`` for anything not comparable (lists, objects)."""
    if isinstance(value, bool):
        return "b", 1.0 if value else 0.0
    if value is None:
        return "z", None
    if isinstance(value, str):
        return "s", value
    if isinstance(value, (int, float)):
        try:
            return "n", float(value)
        except OverflowError:
            return "j", None
    return "j", None


@functools.lru_cache(maxsize=256)
def like_regex(pattern: str) -> re.Pattern[str]:
    """The regular expression of a LIKE pattern."""
    parts: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            parts.append(re.escape(next(chars, "\\")))
        elif char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL)


def _scalar_matches(actual: Any, op: str, literal: Any) -> bool:
    """``actual op literal`` for a metadata value, by the kind rules above."""
    kind, value = meta_kind(actual)
    want, expected = meta_kind(literal)
    if kind != want or kind == "j":
        return False
    if kind == "z":
        return op == "="
    assert value is not None
    assert expected is not None
    if op == "=":
        return value == expected
    a, b = value, expected
    if op == "<":
        return a < b  # type: ignore[operator]
    if op == "<=":
        return a <= b  # type: ignore[operator]
    if op == ">":
        return a > b  # type: ignore[operator]
    return a >= b  # type: ignore[operator]


def _values(entry: Entry, field_: Field) -> list[Any]:
    """The values of ``field_`` on ``entry`` (metadata: ``[]`` if the key is missing)."""
    if field_.key is not None:
        return [entry.metadata[field_.key]] if field_.key in entry.metadata else []
    if field_.name == "alias":
        return list(entry.aliases)
    if field_.name == "input":
        return list(entry.inputs)
    return [entry.sort_value(field_.name)]


def _compare(entry: Entry, field_: Field, op: str, literal: Any) -> bool:
    values = _values(entry, field_)
    if field_.key is not None:
        return any(_scalar_matches(v, op, literal) for v in values)
    if field_.name == "input":
        name, number = literal
        return any(n == name and (number is None or v == number) for n, v in values)
    return any(_ordered(v, op, literal) for v in values)


def _ordered(a: Any, op: str, b: Any) -> bool:
    if op == "=":
        return bool(a == b)
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


def matches(node: Node | None, entry: Entry) -> bool:
    """Whether ``entry`` satisfies the tree (``None``: every entry does)."""
    if node is None:
        return True
    if isinstance(node, And):
        return all(matches(item, entry) for item in node.items)
    if isinstance(node, Or):
        return any(matches(item, entry) for item in node.items)
    if isinstance(node, Not):
        return not matches(node.item, entry)
    if isinstance(node, Latest):
        return entry.latest == node.value
    if isinstance(node, Compare):
        return _compare(entry, node.field, node.op, node.value)
    if isinstance(node, InList):
        return any(_compare(entry, node.field, "=", value) for value in node.values)
    if isinstance(node, Like):
        regex = like_regex(node.pattern)
        return any(isinstance(v, str) and regex.fullmatch(v) for v in _values(entry, node.field))
    raise TypeError(f"not a filter node: {node!r}")


def created_us(moment: datetime) -> int:
    """A manifest's ``created`` as the catalog stores it."""
    return micros(moment)
