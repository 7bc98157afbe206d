"""Helpers of the conformance suite and of ``tests/test_paths.py``.

Capability skips, the hostile keys of the foundation and reliability issues,
hypothesis strategies of keys, and a snapshot of a folder tree (to prove that
nothing was written outside a local root).
"""

from __future__ import annotations

import asyncio
import os
import unicodedata
from collections.abc import Coroutine
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import strategies as st

from storeroom import InvalidPath, Provider, paths

__all__ = [
    "BAD_KEYS",
    "BAD_PREFIXES",
    "LoopedProvider",
    "absolute_outside",
    "any_keys",
    "hostile_keys",
    "require",
    "tree",
    "valid_keys",
]

_T = TypeVar("_T")

_WHY = {
    "create_if_absent": "put(mode='create') must be atomic among many writers",
    "compare_and_swap": "put(mode=IfMatch(etag)) must be atomic among many writers",
    "empty_folders": "makedirs must make a folder that is listed while empty",
    "metadata": "the content type and user metadata must be stored with objects",
    "atomic_rename": "rename must be one atomic step",
    "multipart": "write_stream must upload part by part",
}


def require(provider: Provider, capability: str) -> None:
    """Skip the test unless ``provider`` declares ``capability``, saying why."""
    if not getattr(provider.capabilities, capability):
        notes = provider.capabilities.notes
        pytest.skip(
            f"{type(provider).__name__} declares capabilities.{capability}=False"
            f"{f' ({notes})' if notes else ''}; this test needs it: {_WHY[capability]}"
        )


class LoopedProvider:
    """A provider opened on an event loop of its own, for code that hypothesis drives.

    Args:
        context: a registry factory's context (``backend.open(request)``).
    """

    def __init__(self, context: AbstractAsyncContextManager[Provider]) -> None:
        self.loop = asyncio.new_event_loop()
        self.context = context
        try:
            self.provider = self.run(context.__aenter__())
        except BaseException:
            self.loop.close()
            raise

    def run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coroutine`` to its end on this loop."""
        return self.loop.run_until_complete(coroutine)

    def close(self) -> None:
        """Close the provider, then the loop."""
        try:
            self.run(self.context.__aexit__(None, None, None))
        finally:
            self.loop.close()


#: Keys every provider must refuse with InvalidPath (issue 2 item 9, issue 6 item 5).
#: ``/etc/passwd`` is only ever read; writes use an absolute key inside the
#: test's own tmp folder instead (see :func:`absolute_outside`).
BAD_KEYS: tuple[str, ...] = (
    # issue 2, item 9
    "../x",
    "a/../../x",
    "/etc/passwd",
    "",
    "a//b",
    "a/./b",
    "x/",
    "..\\x",
    "C:\\x",
    "\\\\srv\\share\\x",
    "a\x00b",
    "a\x01b",
    "a\nb",
    "a\x7fb",
    "x" * 256,
    "/".join(["y" * 200] * 6),
    # issue 6, item 5
    "%2e%2e/x",
    "a/%2E%2e/%2e%2e/x",
    "NUL",
    "a/COM1",
    "con.txt",
    "a.",
    "a ",
    "a/b./c",
    "a/b /c",
    "cafe\u0301",  # NFD twin of "café"
    "a\u202etxt.exe",  # RIGHT-TO-LEFT OVERRIDE
    # more of the same families
    ".",
    "..",
    "a/..",
    "C:x",
    "a/.sr-tmp",
    "a%2fb",
    "a\u2028b",
    "\ud800",
)

#: Of :data:`BAD_KEYS`, those that are also bad as a folder prefix (``""`` and
#: ``"."`` are the root and ``"x/"`` is the folder ``x``: all fine as prefixes).
BAD_PREFIXES: tuple[str, ...] = tuple(key for key in BAD_KEYS if key not in ("", ".", "x/"))


def absolute_outside(key: str, outside: Path) -> str:
    """``key``, except that ``/etc/passwd`` becomes an absolute path inside ``outside``.

    A provider that joined an absolute key onto its root would write there, so
    the test can see it, and the machine's ``/etc/passwd`` is never at risk.
    """
    return str(outside / "etc-passwd") if key == "/etc/passwd" else key


def tree(folder: Path) -> dict[str, tuple[bool, int, int]]:
    """Every entry under ``folder`` (symlinks not followed): path -> (is_dir, size, mtime)."""
    found: dict[str, tuple[bool, int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            stat = os.lstat(full)
            is_dir = os.path.isdir(full) and not os.path.islink(full)
            found[os.path.relpath(full, folder)] = (is_dir, stat.st_size, stat.st_mtime_ns)
    return found


# -- hypothesis strategies of keys ---------------------------------------------

_SEGMENT_CHARS = st.characters(
    exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"),
    exclude_characters="/\\",
)
_segments = st.text(_SEGMENT_CHARS, min_size=1, max_size=12).map(
    lambda text: unicodedata.normalize("NFC", text)
)


def _is_valid(key: str) -> bool:
    try:
        paths.validate_key(key)
    except InvalidPath:
        return False
    return True


def valid_keys(max_segments: int = 4) -> st.SearchStrategy[str]:
    """Keys that the key rules accept, from a wide alphabet."""
    return (
        st.lists(_segments, min_size=1, max_size=max_segments)
        .map("/".join)
        .filter(_is_valid)
    )


_TOKENS = st.sampled_from(
    ["", ".", "..", "%2e", "%2E%2e", "%2f", "\\", "C:", "NUL", "con.txt", ".sr-x", " ", "~"]
)


def any_keys() -> st.SearchStrategy[str]:
    """Anything a caller might pass as a key: arbitrary text and path-like junk."""
    return st.one_of(
        st.text(max_size=40),
        st.lists(st.one_of(_segments, _TOKENS, st.text(max_size=4)), max_size=5).map("/".join),
    )


_BAD_SEGMENTS = (
    "",
    ".",
    "..",
    "%2e%2e",
    "%2E",
    ".%2e",
    "NUL",
    "nul.txt",
    "COM1",
    "lpt9.log",
    "aux",
    "CON .x",
    ".sr-tmp",
    "a%2fb",
    "a%5Cb",
    "x" * 256,
    "\u20ac" * 86,
)
_BAD_CHARS = (
    "\x00",
    "\x01",
    "\x1f",
    "\x7f",
    "\x85",
    "\u200b",
    "\u202e",
    "\u2028",
    "\ufeff",
    "\\",
    "\ud800",
    "e\u0301",
)


@st.composite
def hostile_keys(draw: st.DrawFn) -> str:
    """A valid key with exactly one hostile construct put into it."""
    segments = draw(st.lists(_segments, min_size=1, max_size=4).filter(
        lambda parts: _is_valid("/".join(parts))
    ))
    index = draw(st.integers(0, len(segments) - 1))
    how = draw(st.sampled_from(["segment", "char", "suffix", "absolute", "drive", "long"]))
    if how == "segment":
        segments[index] = draw(st.sampled_from(_BAD_SEGMENTS))
    elif how == "char":
        segment = segments[index]
        at = draw(st.integers(0, len(segment)))
        segments[index] = segment[:at] + draw(st.sampled_from(_BAD_CHARS)) + segment[at:]
    elif how == "suffix":
        segments[index] += draw(st.sampled_from([".", " ", "..", ". "]))
    elif how == "absolute":
        return "/" + "/".join(segments)
    elif how == "drive":
        return draw(st.sampled_from(["C:", "c:", "Z:/"])) + "/".join(segments)
    else:
        return "/".join(segments + ["y" * 250] * 5)
    return "/".join(segments)
