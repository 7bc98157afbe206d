"""The filter language: the typed tree, and errors that say where and what was expected."""

from __future__ import annotations

import pytest

from storeroom.artifactstore import ArtifactStore
from storeroom.catalog import FilterError, parse, parse_order
from storeroom.catalog.query import And, Compare, Field, InList, Latest, Like, Not, Or, parse_time
from storeroom.providers.memory import MemoryProvider


def test_tree_shapes() -> None:
    assert parse("") is None
    assert parse("name = 'a'") == Compare(Field("name"), "=", "a")
    assert parse("NAME != 'a'") == Not(Compare(Field("name"), "=", "a"))
    assert parse("version = 'v3'") == Compare(Field("version"), "=", 3)
    assert parse("created < '2026-01-01'") == Compare(
        Field("created"), "<", parse_time("2026-01-01T00:00:00+00:00")
    )
    assert parse("metadata.acc >= 0.5") == Compare(Field("metadata", "acc"), ">=", 0.5)
    assert parse("metadata.\"a b\" in (1, 'x', true, null)") == InList(
        Field("metadata", "a b"), (1, "x", True, None)
    )
    assert parse("alias like 'p%'") == Like(Field("alias"), "p%")
    assert parse("input = 'd/x@v2'") == Compare(Field("input"), "=", ("d/x", 2))
    assert parse("input = 'd/x@y'") == Compare(Field("input"), "=", ("d/x@y", None))
    assert parse("latest = true") == Latest(True)
    assert parse("latest != true") == Latest(False)
    # precedence: not > and > or
    assert parse("name = 'a' or not size > 1 and latest = false") == Or((
        Compare(Field("name"), "=", "a"),
        And((Not(Compare(Field("size"), ">", 1)), Latest(False))),
    ))
    assert parse("name not in ('a')") == Not(InList(Field("name"), ("a",)))
    assert parse("name not like 'a%'") == Not(Like(Field("name"), "a%"))


@pytest.mark.parametrize(
    ("text", "position", "expected"),
    [
        ("name =", 6, "a value"),
        ("name = 'a' and", 14, "a field"),
        ("name = 'a' name = 'b'", 11, "'and', 'or' or the end"),
        ("(name = 'a'", 11, "')'"),
        ("name 'a'", 5, "an operator"),
        ("name = 'unterminated", 7, "a field, value, operator"),
        ("name = 1", 7, "a quoted string for name"),
        ("size = 'big'", 7, "an integer for size"),
        ("version = 'x3'", 10, "an integer or 'v3' for version"),
        ("created > 5", 10, "an ISO 8601 time"),
        ("created > 'yesterday'", 10, "an ISO 8601 time"),
        ("latest = 1", 9, "true or false"),
        ("latest > true", 7, "'=', '!=' or 'in' for latest"),
        ("latest in (true)", 7, "'=' or '!=' for latest"),
        ("alias < 'b'", 6, "'=', '!=' or 'in' for alias"),
        ("input > 'x'", 6, "'=', '!=' or 'in' for input"),
        ("size like '1%'", 5, "an operator other than 'like' for size"),
        ("name like 5", 10, "a quoted pattern"),
        ("metadata = 1", 9, "'.' and a metadata key"),
        ("metadata.x < true", 13, "a string or number after '<'"),
        ("metadata.x < null", 13, "a string or number after '<'"),
        ("name in 'a'", 8, "'(' after 'in'"),
        ("name in ('a' 'b')", 13, "',' or ')'"),
        ("name not = 'a'", 9, "'in' or 'like' after 'not'"),
        ("name = 'a' ; drop table x", 11, "a field, value, operator"),
        ("and", 0, "a field"),
    ],
)
def test_errors_name_position_and_expectation(text: str, position: int, expected: str) -> None:
    with pytest.raises(FilterError) as caught:
        parse(text)
    assert caught.value.position == position, str(caught.value)
    assert expected in caught.value.expected or expected in str(caught.value), str(caught.value)
    assert caught.value.code == "invalid_filter"
    assert isinstance(caught.value, ValueError)
    # the message shows the filter with a caret under the position
    assert f"\n  {text}\n  {' ' * position}^" in str(caught.value)


def test_unknown_field_lists_the_known_ones() -> None:
    with pytest.raises(FilterError) as caught:
        parse("stage = 'prod'")
    message = str(caught.value)
    assert "unknown field 'stage'" in message
    for field in ("name", "version", "content_type", "size", "sha256", "created", "alias",
                  "input", "latest", "metadata.<key>"):
        assert field in message


@pytest.mark.parametrize("order", ["nope", "name sideways", "name asc desc", ""])
def test_bad_order(order: str) -> None:
    with pytest.raises(FilterError):
        parse_order([order])


def test_order_appends_tie_breakers() -> None:
    assert parse_order(None) == (("name", False), ("version", False))
    assert parse_order("created desc") == (("created", True), ("name", False), ("version", False))
    assert parse_order(["version desc", "name"]) == (("version", True), ("name", False))


async def test_bad_tokens_limits_and_filters_are_typed_errors() -> None:
    store = ArtifactStore(MemoryProvider())
    for i in range(3):
        await store.store_artifact(f"a{i}", "x")
    page = await store.find("", limit=1)
    assert page.next_page_token is not None
    for token in ("garbage", "eyJ4IjogMX0", page.next_page_token + "x"):
        with pytest.raises(FilterError, match="invalid page token"):
            await store.find("", limit=1, page_token=token)
    with pytest.raises(FilterError, match="invalid page token"):  # another query's token
        await store.find("name like 'a%'", limit=1, page_token=page.next_page_token)
    for limit in (0, -1, 10_001, True):
        with pytest.raises(FilterError, match="limit"):
            await store.find("", limit=limit)
    with pytest.raises(FilterError, match="a filter is a str"):
        await store.find(5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text", ["name = '\x00'", "name like 'al%\x00zzz'", "metadata.k = 'a\x00'"]
)
def test_a_nul_in_a_filter_is_refused(text: str) -> None:
    """No stored text holds one, and SQLite's GLOB stops at it (it matched too much)."""
    with pytest.raises(FilterError, match="NUL"):
        parse(text)
