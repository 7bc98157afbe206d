"""What a path on the command line means: a key in the store, a URL, or a local file.

Three forms, one rule each:

- ``s3://bucket/a/b.txt`` (anything with ``://``) is a URL of any scheme the
  table in :mod:`storeroom.urls` knows; its last segment is the key, the rest
  the provider's URL, so one provider serves the object and its siblings;
- in commands on the store (``ls``, ``cat``, ``rm``, ``stat``, the store end of
  ``put``/``get``) a plain ``reports/q1.md`` is a key in the store chosen by
  ``--store`` / ``STOREROOM_URL`` / ``./.storeroom``;
- in ``cp`` and the local end of ``put``/``get`` a plain path is a local file.

A trailing ``/`` marks a folder ("copy into it"). Keys typed by the user are
checked by :mod:`storeroom.paths` here, so a bad key is a usage error.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

import click

from .. import paths
from ..errors import InvalidPath
from ..options import mask

__all__ = [
    "Location",
    "any_location",
    "join_url",
    "local_location",
    "store_location",
    "url_location",
]


@dataclass(frozen=True)
class Location:
    """A place to read or write: a key under a provider URL or a local folder.

    Attributes:
        base: the provider URL (may hold secrets), or a local folder for ``local``.
        key: the key under ``base``; ``""`` is ``base`` itself.
        local: ``base`` is a plain local folder, not a store.
        folder: written with a trailing ``/``: a folder to copy into.
        label: how to show it to people (secrets masked).
    """

    base: str
    key: str
    local: bool = False
    folder: bool = False
    label: str = ""

    @property
    def name(self) -> str:
        """The last segment of the key (``""`` for the base itself)."""
        return posixpath.basename(self.key)

    def within(self, other: Location) -> bool:
        """Whether this location is ``other`` or inside it (through links too, locally)."""
        if self.local != other.local:
            return False
        mine, theirs = self._where(), other._where()
        return mine == theirs or mine.startswith(theirs.rstrip("/") + "/")

    def _where(self) -> str:
        """A comparable full path: the real local path, or the URL (no options) and key."""
        if self.local:
            return os.path.realpath(os.path.join(self.base, self.key))
        parts = urlsplit(self.base)
        return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}/{self.key}".rstrip("/")

    def child(self, name: str) -> Location:
        """The location of ``name`` inside this one, as a folder."""
        key = f"{self.key}/{name}" if self.key else name
        label = self.label if self.label.endswith("/") else self.label + "/"
        return replace(self, key=key, folder=False, label=label + name)


def _clean_key(text: str, what: str) -> tuple[str, bool]:
    """A typed key without ``./`` and a trailing ``/``; whether it had the ``/``."""
    folder = text.endswith("/") or text in ("", ".")
    key = text
    while key.startswith("./"):
        key = key[2:]
    key = key.rstrip("/")
    if key in ("", "."):
        return "", True
    try:  # names that exist (other tools' too); a new key is checked when it is written
        paths.validate_address(key)
    except InvalidPath as exc:
        raise click.BadParameter(f"{exc}", param_hint=what) from None
    return key, folder


def _split(url: str, what: str) -> SplitResult:
    """``urlsplit``, a malformed URL (``s3://[bad/p``) being a usage error."""
    try:
        return urlsplit(url)
    except ValueError as exc:
        raise click.BadParameter(
            f"{mask(url)!r} is not a valid URL: {exc}", param_hint=what
        ) from None


def url_location(url: str, what: str = "URL") -> Location:
    """``scheme://bucket/a/b`` as the provider of ``scheme://bucket/a`` and the key ``b``."""
    parts = _split(url, what)
    if parts.scheme == "file":
        full = parts.netloc + parts.path
        folder = full.endswith("/")
        parent, name = posixpath.split(full.rstrip("/") or "/")
        base = urlunsplit(("file", "", parent or "/", parts.query, ""))
        if name:
            name, _ = _clean_key(name, what)
        return Location(base, name, folder=folder, label=mask(url))
    path, folder = _clean_key(parts.path.lstrip("/"), what)
    parent, _, name = path.rpartition("/")
    base = urlunsplit((parts.scheme, parts.netloc, parent, parts.query, ""))
    return Location(base, name, folder=folder or not path, label=mask(url))


class LocalPath(click.Path):
    """click's ``Path``, refusing a NUL byte (no local path can hold one) with a usage
    error instead of the ``ValueError`` that checking the path would raise."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and "\x00" in value:
            self.fail(f"{value!r} holds a NUL byte: no local path can", param, ctx)
        return super().convert(value, param, ctx)


def local_location(path: str) -> Location:
    """A local file or folder path."""
    full = os.path.abspath(path)
    parent, name = os.path.split(full)
    folder = path.endswith(os.sep) or not name or os.path.isdir(full)
    return Location(parent, name, local=True, folder=folder, label=path)


def store_location(store: str, text: str, what: str = "KEY") -> Location:
    """A key in the store ``store``, or a URL if ``text`` has a scheme."""
    if "://" in text:
        return url_location(text, what)
    key, folder = _clean_key(text, what)
    return Location(store, key, folder=folder, label=text or ".")


def any_location(text: str, what: str = "PATH") -> Location:
    """A URL if ``text`` has a scheme, else a local path."""
    if "://" in text:
        return url_location(text, what)
    return local_location(text)


def join_url(url: str, name: str) -> str:
    """The URL (or local path) of the folder ``name`` inside ``url``, options kept."""
    if "://" not in url:
        return os.path.join(url, name)
    parts = _split(url, "URL")
    path = f"{parts.path.rstrip('/')}/{name}"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))
