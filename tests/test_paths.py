"""Unit tests of the key rules in :mod:`storeroom.paths`, with a hypothesis fuzz.

The fuzz checks both directions: every key that ``validate_key`` accepts is
safe (joined under a POSIX or a Windows root it stays under it, unchanged),
and a valid key with any one hostile construct put into it is refused.
"""

from __future__ import annotations

import ntpath
import posixpath
import unicodedata
from pathlib import PurePosixPath, PureWindowsPath
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storeroom import InvalidPath, paths
from tests.conformance.support import BAD_KEYS, any_keys, hostile_keys, valid_keys

GOOD_KEYS = (
    "a",
    "a/b/c.txt",
    "reports/2026/q1.md",
    "a b/c d",
    ".hidden",
    "a..b",
    "...x",
    "x.sr-",
    ".sr",
    "%20x",
    "100%",
    "nul-safe/CONSOLE/com10/nully.txt",
    "caf\u00e9",
    "\u65e5\u672c\u8a9e/\u30d5\u30a1\u30a4\u30eb.txt",
    "emoji/\U0001f600",
    "a/b:c",
    "x" * 255,
    "\u20ac" * 85,
    "/".join(["y" * 204] * 5),
)


def assert_safe(key: str) -> None:
    """Everything that makes an accepted key safe to join under a root, anywhere."""
    segments = key.split("/")
    posix_root = "/srv/store"
    assert posixpath.normpath(posixpath.join(posix_root, key)) == f"{posix_root}/{key}"
    assert PurePosixPath(posix_root, key).relative_to(posix_root).parts == tuple(segments)
    windows_root = "C:\\store"
    joined = ntpath.normpath(ntpath.join(windows_root, key))
    assert joined == windows_root + "\\" + key.replace("/", "\\")
    assert PureWindowsPath(windows_root, key).relative_to(windows_root).parts == tuple(segments)
    assert ntpath.splitdrive(key)[0] == ""
    assert not ntpath.isabs(key)
    assert len(key.encode("utf-8")) <= paths.MAX_KEY_BYTES
    assert unicodedata.is_normalized("NFC", key)
    assert all(unicodedata.category(char)[0] != "C" for char in key)
    for segment in segments:
        decoded = unquote(segment)
        assert decoded not in (".", "..")
        assert "/" not in decoded
        assert "\\" not in decoded
        assert segment.rstrip(". ") == segment
        assert not segment.startswith(paths.RESERVED_PREFIX)
        assert 0 < len(segment.encode("utf-8")) <= paths.MAX_SEGMENT_BYTES


@pytest.mark.parametrize("key", GOOD_KEYS)
def test_good_keys_are_returned_unchanged(key: str) -> None:
    assert paths.validate_key(key) == key
    assert_safe(key)


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_are_a_clear_invalid_path(key: str) -> None:
    with pytest.raises(InvalidPath) as raised:
        paths.validate_key(key)
    error = raised.value
    assert isinstance(error, ValueError)
    assert error.code == "invalid_path"
    assert str(error).startswith("invalid key ")
    assert repr(key)[:60] in str(error) or len(repr(key)) > 120


@pytest.mark.parametrize("key", [None, b"a", 1])
def test_a_key_is_a_str(key: object) -> None:
    with pytest.raises(InvalidPath, match="a key is a str"):
        paths.validate_key(key)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("key", "rule"),
    [
        ("", "empty"),
        ("/a", "absolute"),
        ("a\\b", "backslash"),
        ("C:x", "drive"),
        ("1:x", "drive"),
        ("a//b", "empty segment"),
        ("a/..", "'..' segments"),
        ("%2E%2e", "percent-encoded"),
        ("a%2Fb", "percent-encoded"),
        ("a\x00", "control"),
        ("a\u202e", "format"),
        ("cafe\u0301", "NFC"),
        ("a/b.", "dot or a space"),
        ("aux.tar.gz", "device names"),
        ("COM\u00b9", "device names"),
        ("x/.sr-lock", "reserved"),
        ("x" * 256, "segment is longer"),
        ("/".join(["y" * 205] * 5), "longer than 1024"),
    ],
)
def test_the_error_names_the_rule(key: str, rule: str) -> None:
    with pytest.raises(InvalidPath, match=rule):
        paths.validate_key(key)


def test_lengths_are_counted_in_utf8_bytes_at_the_boundary() -> None:
    assert paths.validate_key("\u20ac" * 85)  # 255 bytes
    with pytest.raises(InvalidPath):
        paths.validate_key("\u20ac" * 85 + "x")  # 256 bytes
    exact = "/".join(["\u00e9" * 102] * 5)  # 5 * 204 + 4 = 1024 bytes
    assert len(exact.encode()) == paths.MAX_KEY_BYTES
    assert paths.validate_key(exact) == exact
    with pytest.raises(InvalidPath):
        paths.validate_key(exact + "x")


def test_nfc_and_nfd_twins_cannot_both_exist() -> None:
    nfc = unicodedata.normalize("NFC", "caf\u00e9/r\u00e9sum\u00e9")
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    assert paths.validate_key(nfc) == nfc
    with pytest.raises(InvalidPath):
        paths.validate_key(nfd)


@pytest.mark.parametrize(
    ("prefix", "folder"),
    [("", ""), ("/", ""), (".", ""), ("a", "a/"), ("a/", "a/"), ("a/b", "a/b/"), ("a/b/", "a/b/")],
)
def test_validate_prefix_returns_a_folder(prefix: str, folder: str) -> None:
    assert paths.validate_prefix(prefix) == folder


@pytest.mark.parametrize("prefix", ["a//", "//", "../", "/a", "a/../", "./", "a\x00/"])
def test_validate_prefix_refuses_bad_folders(prefix: str) -> None:
    with pytest.raises(InvalidPath):
        paths.validate_prefix(prefix)


def test_join_parent_basename() -> None:
    assert paths.join("a", "b/", "/c") == "a/b/c"
    assert paths.join("a", "", "b") == "a/b"
    assert paths.parent("a/b/c") == "a/b/"
    assert paths.parent("c") == ""
    assert paths.basename("a/b/c") == "c"
    assert paths.basename("c") == "c"
    for bad in (("a", ".."), ("a", "b\\c"), ("",), ()):
        with pytest.raises(InvalidPath):
            paths.join(*bad)


@settings(max_examples=400, deadline=None)
@given(key=any_keys())
def test_fuzz_any_key_is_accepted_unchanged_and_safe_or_refused(key: str) -> None:
    try:
        accepted = paths.validate_key(key)
    except InvalidPath:
        return
    assert accepted == key
    assert_safe(key)


@settings(max_examples=300, deadline=None)
@given(key=valid_keys())
def test_fuzz_accepted_keys_are_safe_and_compose(key: str) -> None:
    assert_safe(key)
    assert paths.validate_prefix(key) == key + "/"
    assert paths.validate_prefix(key + "/") == key + "/"
    assert paths.join(paths.parent(key), paths.basename(key)) == key
    assert paths.parent(key) + paths.basename(key) == key


@settings(max_examples=400, deadline=None)
@given(key=hostile_keys())
def test_fuzz_a_hostile_construct_is_always_refused(key: str) -> None:
    with pytest.raises(InvalidPath):
        paths.validate_key(key)


@given(
    st.text(alphabet=st.sampled_from("aZ09._-~ %:/\\$&'CONULPTsr"), max_size=40)
    | any_keys()
    | hostile_keys()
)
@settings(max_examples=3000, deadline=None)
def test_fuzz_the_fast_path_accepts_only_what_the_rules_accept(key: str) -> None:
    fast = len(key) <= paths.MAX_KEY_BYTES and paths._FAST.fullmatch(key) is not None
    try:
        paths._validate_by_rules(key)
        by_rules = True
    except InvalidPath:
        by_rules = False
    assert by_rules or not fast, key


# -- addressing existing names (validate_address / address_problem) -----------

ADDRESSABLE_ONLY = ("draft.", "con.txt", "a/NUL", "cafe\u0301", "a\u2028b", "a ", "C:x", "..x/y..",
                    "x\udcff", "%2e%2e/x", "a\\b", "x" * 300)  # fmt: skip
UNADDRESSABLE = ("", "/abs", "../x", "a/../b", "a//b", "x/./y", "x/", ".", "a\x00b", "a\nb", "\x7f",
                 ".sr-tmp-1", "a/.SR-dir", "\ud800")  # fmt: skip


@pytest.mark.parametrize("key", ADDRESSABLE_ONLY, ids=ascii)
def test_names_other_tools_write_are_addressable_but_never_created(key: str) -> None:
    assert paths.validate_address(key) == key
    assert paths.address_problem(key) is None
    with pytest.raises(InvalidPath):
        paths.validate_key(key)


@pytest.mark.parametrize("key", UNADDRESSABLE, ids=ascii)
def test_unaddressable_names_are_refused_with_a_reason(key: str) -> None:
    reason = paths.address_problem(key)
    assert reason
    with pytest.raises(InvalidPath, match="invalid key"):
        paths.validate_address(key)


def test_a_prefix_is_an_addressable_folder() -> None:
    assert paths.validate_prefix("draft./") == "draft./"
    with pytest.raises(InvalidPath):
        paths.validate_prefix("../x")


@settings(max_examples=500, deadline=None)
@given(key=st.text(alphabet=st.sampled_from("a./\x00\udcff\ud800 sr-S"), max_size=12) | any_keys())
def test_fuzz_an_addressable_key_never_leaves_its_root(key: str) -> None:
    if paths.address_problem(key) is not None:
        with pytest.raises(InvalidPath):
            paths.validate_address(key)
        return
    assert paths.validate_address(key) == key
    root = "/srv/store"
    assert posixpath.normpath(posixpath.join(root, key)) == f"{root}/{key}"
    assert PurePosixPath(root, key).relative_to(root).parts == tuple(key.split("/"))
    assert "\x00" not in key
    key.encode("utf-8", "surrogateescape")


@given(key=any_keys() | valid_keys())
@settings(max_examples=200, deadline=None)
def test_fuzz_every_creatable_key_is_addressable(key: str) -> None:
    try:
        paths.validate_key(key)
    except InvalidPath:
        return
    assert paths.address_problem(key) is None
