"""What the command line prints: tables and plain lines for people, JSON for scripts.

Everything a command reports goes through :class:`Output`: in ``--json`` mode
one JSON document on stdout, otherwise text (rich tables when asked for a
long listing). Secrets never reach either: :class:`Redactor` knows every URL
the command was given and scrubs its credentials from any text, as a second
line of defence behind :func:`storeroom.options.mask`.

rich is imported only when a table or colour is actually printed.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote_plus, urlsplit

from ..options import mask

if TYPE_CHECKING:
    from rich.console import Console

    from ..providers.base import ObjectMeta

__all__ = ["Output", "Redactor", "human_size", "json_text", "meta_record", "safe_text", "when"]

#: A lone surrogate: how Python keeps a byte of a file name that is not UTF-8.
_SURROGATE = re.compile("[\ud800-\udfff]")


def json_text(document: Any, *, indent: int | None = None) -> str:
    """``document`` as JSON text that is always valid UTF-8.

    A file name that is not UTF-8 reaches Python with lone surrogates; those
    are written as JSON ``\\uDCxx`` escapes (which Python's ``json`` reads back
    to the same name, and ``os.fsencode`` to the same bytes), never as bytes
    that would make the whole document invalid.
    """
    text = json.dumps(document, indent=indent, ensure_ascii=False, default=str)
    return _SURROGATE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


def safe_text(text: str) -> str:
    """``text`` printable as UTF-8: a byte that is not UTF-8 is shown as ``\\xNN``."""
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_size(size: float) -> str:
    """``1536`` -> ``"1.5 KiB"``; bytes below 1 KiB are shown exactly."""
    if size < 1024:
        return f"{int(size)} B"
    for unit in _UNITS[1:]:
        size /= 1024
        if size < 1024 or unit == _UNITS[-1]:
            break
    return f"{size:.1f} {unit}"


def when(moment: datetime | str) -> str:
    """A timestamp (or its ISO 8601 text) for people: local time, to the second."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def meta_record(meta: ObjectMeta, path: str | None = None) -> dict[str, Any]:
    """An object's metadata as a JSON-ready dict (``path`` overrides the key shown)."""
    return {
        "path": meta.path if path is None else path,
        "type": "file",
        "size": meta.size,
        "modified": meta.modified.isoformat(),
        "etag": meta.etag,
        "content_type": meta.content_type,
        "metadata": dict(meta.metadata),
    }


class Redactor:
    """Scrubs the credentials of known URLs out of any text."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def add(self, url: str | None) -> None:
        """Remember the password and secret-looking query values of ``url``."""
        if not url or "://" not in url:
            return
        try:
            parts = urlsplit(url)
            if parts.password:
                self._secrets.add(parts.password)
            masked = dict(parse_qsl(urlsplit(mask(url)).query, keep_blank_values=True))
            for pair in parts.query.split("&"):
                name, _, as_typed = pair.partition("=")
                value = unquote_plus(as_typed)
                if masked.get(unquote_plus(name)) == "***" and len(value) >= 3:
                    self._secrets.update((value, as_typed))  # decoded, and as typed (%3D...)
                elif "://" in value:
                    self.add(value)  # a URL as an option (endpoint=http://user:pass@host)
        except ValueError:
            return

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text


class Output:
    """Prints one command's results as text or JSON.

    Args:
        as_json: print JSON documents instead of text.
        redact: applied to every text printed.
        stdout: where results go (``sys.stdout`` by default).
    """

    def __init__(
        self, *, as_json: bool, redact: Callable[[str], str], stdout: IO[str] | None = None
    ) -> None:
        self.as_json = as_json
        self.redact = redact
        self.stdout = stdout or sys.stdout
        self._console: Console | None = None

    def console(self) -> Console:
        """A rich console on stdout (wide when stdout is not a terminal, so nothing wraps)."""
        if self._console is None:
            from rich.console import Console

            width = None if self.stdout.isatty() else 10_000
            self._console = Console(file=self.stdout, width=width, highlight=False)
        return self._console

    def json(self, document: Any) -> None:
        """Print ``document`` as indented JSON."""
        self.stdout.write(self.redact(json_text(document, indent=2)) + "\n")

    def line(self, text: str = "") -> None:
        """Print one plain line of text (never interpreted as markup)."""
        self.stdout.write(self.redact(safe_text(text)) + "\n")

    def lines(self, texts: Iterable[str]) -> None:
        """Print plain lines."""
        for text in texts:
            self.line(text)

    def table(
        self,
        columns: Sequence[str],
        rows: Iterable[Sequence[str]],
        *,
        right: Iterable[str] = (),
    ) -> None:
        """Print an aligned table; ``right`` names the columns aligned right."""
        from rich.table import Table
        from rich.text import Text

        aligned_right = set(right)
        table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
        for name in columns:
            table.add_column(name, justify="right" if name in aligned_right else "left")
        for row in rows:
            table.add_row(*(Text(self.redact(safe_text(cell))) for cell in row))
        self.console().print(table)

    def result(self, document: Any, text: Callable[[], None]) -> None:
        """Print ``document`` as JSON in ``--json`` mode, else call ``text`` to print it."""
        if self.as_json:
            self.json(document)
        else:
            text()
