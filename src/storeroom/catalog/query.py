"""The filter language of ``ArtifactStore.find``, parsed into a typed tree.

A filter is text such as ``name LIKE 'models/%' and metadata.stage = 'prod'``.
It is tokenized and parsed by recursive descent into frozen dataclasses
(:class:`Compare`, :class:`InList`, :class:`Like`, :class:`Latest`,
:class:`And`, :class:`Or`, :class:`Not`); values are checked against the type of
their field here, once. Nothing downstream ever sees the text: the scan
evaluates the tree in Python and the SQL indexes translate it into SQL with
every value passed as a parameter, so a filter cannot change the SQL's shape.

Grammar (keywords are case-insensitive)::

    filter     := [or]
    or         := and ('or' and)*
    and        := unary ('and' unary)*
    unary      := 'not' unary | '(' or ')' | comparison
    comparison := field op value
                | field ['not'] 'in' '(' value (',' value)* ')'
                | field ['not'] 'like' string
    op         := '=' | '!=' | '<>' | '<' | '<=' | '>' | '>='
    field      := name | version | content_type | size | sha256 | created
                | alias | input | latest | metadata.<key> | metadata."<any key>"
    value      := 'string' | "string" | number | true | false | null

A mistake raises :class:`FilterError` naming the position (0-based character
offset) and what was expected there.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

from ..errors import StorageError

__all__ = [
    "FIELDS",
    "And",
    "Compare",
    "Field",
    "FilterError",
    "InList",
    "Latest",
    "Like",
    "Node",
    "Not",
    "Op",
    "Or",
    "Scalar",
    "parse",
]

Op = Literal["=", "<", "<=", ">", ">="]  # "a != b" is parsed as not (a = b)
#: A literal of the language (metadata may be compared with any of them).
Scalar = str | int | float | bool | None

#: Field -> its value type. ``created`` values are ISO 8601 (UTC if no offset)
#: and compared as microseconds; ``version`` takes ``3`` or ``'v3'``.
FIELDS: dict[str, str] = {
    "name": "text",
    "version": "int",
    "content_type": "text",
    "size": "int",
    "sha256": "text",
    "created": "time",
    "alias": "text",
    "input": "ref",
    "latest": "bool",
}
#: Fields that hold several values per version: a comparison means "one of them".
MULTI = frozenset({"alias", "input"})
_KNOWN = ", ".join([*sorted(FIELDS), "metadata.<key>"])
_ORDERING: frozenset[str] = frozenset({"<", "<=", ">", ">="})


class FilterError(StorageError, ValueError):
    """A filter (or ``order_by``, or page token) that cannot be understood.

    Attributes:
        position: 0-based character offset of the mistake in the filter.
        expected: what would have been understood there.
    """

    code = "invalid_filter"

    def __init__(self, message: str, *, text: str = "", position: int = 0, expected: str = ""):
        self.position = position
        self.expected = expected
        if text:
            message = f"{message}\n  {text}\n  {' ' * position}^"
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Field:
    """A field of a version: ``name``, ..., or ``metadata`` with ``key`` set."""

    name: str
    key: str | None = None

    @property
    def kind(self) -> str:
        """``text``, ``int``, ``time``, ``ref``, ``bool`` or ``any`` (metadata)."""
        return "any" if self.key is not None else FIELDS[self.name]

    def __str__(self) -> str:
        return self.name if self.key is None else f"metadata.{self.key}"


@dataclass(frozen=True, slots=True)
class Compare:
    """``field op value``; for ``created`` the value is microseconds since the epoch,
    for ``version`` a number, for ``input`` a pair (name, number or ``None`` = any)."""

    field: Field
    op: Op
    value: Scalar | tuple[str, int | None]


@dataclass(frozen=True, slots=True)
class InList:
    """``field IN (values...)``: equal to one of them."""

    field: Field
    values: tuple[Scalar | tuple[str, int | None], ...]


@dataclass(frozen=True, slots=True)
class Like:
    """``field LIKE pattern``: ``%`` any run, ``_`` one character, ``\\`` escapes."""

    field: Field
    pattern: str


@dataclass(frozen=True, slots=True)
class Latest:
    """``latest = true``: the version is its artifact's newest live one (``false``: it is not)."""

    value: bool


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Node


Node = Compare | InList | Like | Latest | And | Or | Not

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>'(?:[^']|'')*'|"(?:[^"]|"")*")
  | (?P<number>-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),.])
  | (?P<word>[A-Za-z_][A-Za-z0-9_\-]*)
    """,
    re.VERBOSE,
)
_KEYWORDS = frozenset({"and", "or", "not", "in", "like", "true", "false", "null"})


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # string, number, op, punct, word, end
    text: str
    position: int

    def describe(self) -> str:
        return "the end of the filter" if self.kind == "end" else repr(self.text)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        found = _TOKEN.match(text, position)
        if found is None:
            raise FilterError(
                f"unexpected character {text[position]!r} at position {position}",
                text=text, position=position, expected="a field, value, operator or parenthesis",
            )
        kind = found.lastgroup or ""
        if kind != "space":
            tokens.append(_Token(kind, found.group(), position))
        position = found.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _unquote(token: _Token) -> str:
    quote = token.text[0]
    return token.text[1:-1].replace(quote * 2, quote)


def parse_time(value: str) -> int:
    """Microseconds since the epoch of an ISO 8601 time (UTC if it has no offset).

    Raises:
        ValueError: not an ISO 8601 date or time.
    """
    moment = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return micros(moment)


def micros(moment: datetime) -> int:
    """Microseconds since the epoch (exact: integer arithmetic)."""
    delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def parse_ref(value: str) -> tuple[str, int | None]:
    """``'data/x.csv@v3'`` -> ``('data/x.csv', 3)``; ``'data/x.csv'`` -> ``(..., None)``."""
    name, sep, version = value.rpartition("@")
    if sep and re.fullmatch(r"v?[1-9][0-9]{0,11}", version):
        return name, int(version.lstrip("v"))
    return value, None


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def fail(self, expected: str, token: _Token | None = None) -> FilterError:
        token = token or self.token
        return FilterError(
            f"at position {token.position}: expected {expected}, found {token.describe()}",
            text=self.text, position=token.position, expected=expected,
        )

    def keyword(self, word: str) -> bool:
        if self.token.kind == "word" and self.token.text.lower() == word:
            self.index += 1
            return True
        return False

    def punct(self, char: str) -> bool:
        if self.token.kind == "punct" and self.token.text == char:
            self.index += 1
            return True
        return False

    def parse(self) -> Node | None:
        if self.token.kind == "end":
            return None
        node = self.or_()
        if self.token.kind != "end":
            raise self.fail("'and', 'or' or the end of the filter")
        return node

    def or_(self) -> Node:
        items = [self.and_()]
        while self.keyword("or"):
            items.append(self.and_())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_(self) -> Node:
        items = [self.unary()]
        while self.keyword("and"):
            items.append(self.unary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def unary(self) -> Node:
        if self.keyword("not"):
            return Not(self.unary())
        if self.punct("("):
            node = self.or_()
            if not self.punct(")"):
                raise self.fail("')'")
            return node
        return self.comparison()

    def field(self) -> Field:
        token = self.token
        if token.kind != "word" or token.text.lower() in _KEYWORDS:
            raise self.fail(f"a field ({_KNOWN}) or '(' or 'not'")
        self.index += 1
        name = token.text.lower()
        if name == "metadata":
            if not self.punct("."):
                raise self.fail("'.' and a metadata key after 'metadata'")
            key_token = self.token
            if key_token.kind == "string":
                key = _unquote(key_token)
            elif key_token.kind in ("word", "number"):
                key = key_token.text
            else:
                raise self.fail("a metadata key (a word or a quoted string)")
            self.index += 1
            while self.token.kind == "punct" and self.token.text == ".":  # metadata.a.b: key "a.b"
                self.index += 1
                if self.token.kind not in ("word", "number"):
                    raise self.fail("a metadata key part after '.'")
                key += "." + self.token.text
                self.index += 1
            return Field("metadata", key)
        if name not in FIELDS:
            raise FilterError(
                f"unknown field {token.text!r} at position {token.position}; "
                f"known fields: {_KNOWN}",
                text=self.text, position=token.position, expected=f"a field ({_KNOWN})",
            )
        return Field(name)

    def literal(self) -> tuple[Scalar, _Token]:
        token = self.token
        self.index += 1
        if token.kind == "string":
            return _unquote(token), token
        if token.kind == "number":
            number = float(token.text)
            is_int = re.fullmatch(r"-?\d+", token.text) is not None
            return (int(token.text) if is_int else number), token
        word = token.text.lower() if token.kind == "word" else ""
        if word in ("true", "false"):
            return word == "true", token
        if word == "null":
            return None, token
        self.index -= 1
        raise self.fail("a value (a quoted string, a number, true, false or null)")

    def value(self, field: Field, op: str) -> tuple[Scalar | tuple[str, int | None], _Token]:
        value, token = self.literal()
        kind = field.kind

        def wrong(expected: str) -> FilterError:
            return self.fail(f"{expected} for {field}", token)

        if kind == "any":
            if op in _ORDERING and (value is None or isinstance(value, bool)):
                raise wrong(f"a string or number after {op!r}")
            return value, token
        if kind == "text":
            if not isinstance(value, str):
                raise wrong("a quoted string")
            return value, token
        if kind == "int":
            if isinstance(value, str) and field.name == "version":
                found = re.fullmatch(r"v?([1-9][0-9]*)", value)
                if found:
                    return int(found.group(1)), token
            if isinstance(value, bool) or not isinstance(value, int):
                raise wrong("an integer" + (" or 'v3'" if field.name == "version" else ""))
            return value, token
        if kind == "time":
            if not isinstance(value, str):
                raise wrong("an ISO 8601 time in quotes (e.g. '2026-01-31T12:00:00Z')")
            try:
                return parse_time(value), token
            except ValueError:
                raise wrong(
                    "an ISO 8601 time (e.g. '2026-01-31' or '2026-01-31T12:00:00+00:00')"
                ) from None
        if kind == "ref":
            if not isinstance(value, str) or not value:
                raise wrong("an artifact reference in quotes ('name' or 'name@v3')")
            return parse_ref(value), token
        if not isinstance(value, bool):  # latest
            raise wrong("true or false")
        return value, token

    def comparison(self) -> Node:
        field = self.field()
        negate = self.keyword("not")
        op_token = self.token
        if self.keyword("in"):
            node: Node = self.in_list(field)
        elif self.keyword("like"):
            node = self.like(field, op_token)
        elif negate:
            raise self.fail("'in' or 'like' after 'not'")
        elif op_token.kind == "op":
            self.index += 1
            op = "!=" if op_token.text == "<>" else op_token.text
            node = self.compare(field, op, op_token)
        else:
            raise self.fail("an operator (=, !=, <, <=, >, >=, in, like)")
        return Not(node) if negate else node

    def compare(self, field: Field, op: str, op_token: _Token) -> Node:
        if op in _ORDERING and (field.kind in ("ref", "bool") or field.name == "alias"):
            raise self.fail(f"'=', '!=' or 'in' for {field}", op_token)
        value, _ = self.value(field, op)
        if field.name == "latest":
            assert isinstance(value, bool)
            return Latest(value if op == "=" else not value)
        if op == "!=":  # "not equal": true where the field is missing too (no NULL logic)
            return Not(Compare(field, "=", value))
        return Compare(field, op, value)  # type: ignore[arg-type]

    def in_list(self, field: Field) -> Node:
        if field.kind == "bool":
            raise self.fail(f"'=' or '!=' for {field}", self.tokens[self.index - 1])
        if not self.punct("("):
            raise self.fail("'(' after 'in'")
        values = [self.value(field, "=")[0]]
        while self.punct(","):
            values.append(self.value(field, "=")[0])
        if not self.punct(")"):
            raise self.fail("',' or ')'")
        return InList(field, tuple(values))

    def like(self, field: Field, op_token: _Token) -> Node:
        if field.kind not in ("text", "any"):
            raise self.fail(f"an operator other than 'like' for {field}", op_token)
        token = self.token
        if token.kind != "string":
            raise self.fail("a quoted pattern after 'like' (% any run, _ one character)")
        self.index += 1
        return Like(field, _unquote(token))


def parse(text: str) -> Node | None:
    """The tree of a filter; ``None`` for an empty filter (every version).

    Raises:
        FilterError: the filter is malformed (the message shows where and what was expected).
    """
    if not isinstance(text, str):
        raise FilterError(f"a filter is a str, not {type(text).__name__}")
    if "\x00" in text:  # no name or value holds one; SQLite and PostgreSQL cut or refuse it
        raise FilterError("a filter cannot hold a NUL character")
    return _parse(text)


@functools.lru_cache(maxsize=256)
def _parse(text: str) -> Node | None:
    """Trees are immutable, so a repeated filter (a page walk, a poll) is parsed once."""
    return _Parser(text).parse()
