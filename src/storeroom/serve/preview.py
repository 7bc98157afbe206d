"""Previews of a version's content, each reading at most a bounded number of bytes.

The kind comes from the content type and the name's extension. Text, Markdown,
JSON and CSV read the first :data:`TEXT_LIMIT` bytes (a range read: a 10 GiB
log costs the same as a 10 KiB one) and say when they were cut; Parquet is
read only when the whole file is at most :data:`PARQUET_LIMIT` (its footer is
at the end) and only with pyarrow installed; images are shown by the browser
from the download URL, only when at most :data:`IMAGE_LIMIT` and of a raster
type (SVG can carry scripts: it is offered as a download only).

Safety: every preview is data for the templates, which escape it (Jinja2
autoescape). The one HTML fragment made here is Markdown, rendered by
markdown-it with raw HTML disabled and its link validation (no
``javascript:`` URLs); the page's Content-Security-Policy blocks scripts and
remote images in any case.
"""

from __future__ import annotations

import csv
import functools
import io
import json
from dataclasses import dataclass, field
from typing import Any

from ..artifactstore import ArtifactStore, ArtifactVersion

__all__ = [
    "IMAGE_LIMIT",
    "IMAGE_TYPES",
    "PARQUET_LIMIT",
    "TEXT_LIMIT",
    "Preview",
    "head_bytes",
    "kind_of",
    "make_preview",
]

#: Bytes read for a text, Markdown, JSON or CSV preview.
TEXT_LIMIT = 256 * 1024
#: Largest image shown inline (the browser fetches it whole).
IMAGE_LIMIT = 8 * 1024 * 1024
#: Largest Parquet file previewed (read whole: its schema is in the footer).
PARQUET_LIMIT = 16 * 1024 * 1024
#: Rows of a table preview.
TABLE_ROWS = 50
#: Bytes of a binary preview (a hex dump).
HEX_LIMIT = 512
#: Raster image types a browser may show inline; never SVG.
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/avif"})

_EXTENSIONS = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".png": "image",
    ".jpg": "image",
    ".jpeg": "image",
    ".gif": "image",
    ".webp": "image",
}


@dataclass(frozen=True, slots=True)
class Preview:
    """What the version page shows of the content.

    Attributes:
        kind: ``text``, ``markdown``, ``json``, ``table``, ``image``, ``binary``
            or ``none`` (too large or not previewable: ``note`` says why).
        text: the text shown (text, JSON, hex dump).
        html: rendered Markdown (safe: no raw HTML, checked links).
        columns, rows: a table's head.
        truncated: only the first bytes or rows are shown.
        note: a sentence for the reader (why it was cut or not shown).
    """

    kind: str
    text: str = ""
    html: str = ""
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    truncated: bool = False
    note: str = ""


def _base_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def kind_of(version: ArtifactVersion) -> str:
    """The preview kind of a version, from its content type, then its name's extension."""
    ctype = _base_type(version.content_type)
    if ctype in ("text/markdown", "text/x-markdown"):
        return "markdown"
    if ctype == "application/json" or ctype.endswith("+json"):
        return "json"
    if ctype == "text/csv":
        return "csv"
    if ctype == "text/tab-separated-values":
        return "tsv"
    if ctype in ("application/vnd.apache.parquet", "application/x-parquet"):
        return "parquet"
    if ctype in IMAGE_TYPES:
        return "image"
    name = version.name.lower()
    dot = name.rfind(".")
    by_extension = _EXTENSIONS.get(name[dot:]) if dot >= 0 else None
    if by_extension == "image" and ctype not in IMAGE_TYPES:
        by_extension = None  # shown inline only with a raster content type
    if by_extension is not None:
        return by_extension
    return "text" if version.encoding is not None else "binary"


async def head_bytes(store: ArtifactStore, version: ArtifactVersion, limit: int) -> bytes:
    """At most ``limit`` bytes from the start of the content (one bounded range read)."""
    parts = [chunk async for chunk in store.iter_content(version, 0, min(limit, version.size))]
    return b"".join(parts)


def _decode(data: bytes, cut: bool) -> str:
    """UTF-8 text of ``data``; a character split by the cut is dropped, others replaced."""
    text = data.decode("utf-8", errors="replace")
    if cut and text.endswith("\ufffd"):
        text = text[:-1]
    return text


@functools.lru_cache(maxsize=1)
def _renderer() -> Any:
    """The Markdown renderer, built once (building it costs more than most renders)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})


def _markdown(text: str) -> str:
    return str(_renderer().render(text))


def _table(text: str, delimiter: str, cut: bool) -> tuple[list[str], list[list[str]], bool]:
    lines = text.splitlines()
    if cut and lines:
        lines = lines[:-1]  # the last line may be cut short
    reader = csv.reader(lines, delimiter=delimiter)
    rows: list[list[str]] = []
    for row in reader:
        rows.append(row)
        if len(rows) > TABLE_ROWS:
            break
    more = len(rows) > TABLE_ROWS or cut
    header, body = (rows[0], rows[1 : TABLE_ROWS + 1]) if rows else ([], [])
    return header, body, more


def _parquet(data: bytes) -> Preview:
    try:
        import pyarrow.parquet as pq  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return Preview("none", note="Parquet previews need pyarrow (pip install pyarrow).")
    try:
        parquet = pq.ParquetFile(io.BytesIO(data))
        if parquet.num_row_groups == 0:
            return Preview("table", columns=list(parquet.schema_arrow.names))
        table = parquet.read_row_group(0).slice(0, TABLE_ROWS)
    except Exception as exc:  # pyarrow raises its own types for a malformed file
        return Preview("none", note=f"Not a readable Parquet file ({type(exc).__name__}).")
    columns = [str(c) for c in table.column_names]
    rows = [[_cell(v) for v in row.values()] for row in table.to_pylist()]
    return Preview(
        "table",
        columns=columns,
        rows=rows,
        truncated=parquet.metadata.num_rows > len(rows),
    )


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _hex(data: bytes) -> str:
    lines = []
    for offset in range(0, len(data), 16):
        chunk = data[offset : offset + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        shown = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset:08x}  {hexes:<47}  {shown}")
    return "\n".join(lines)


async def make_preview(store: ArtifactStore, version: ArtifactVersion) -> Preview:
    """The preview of ``version``, reading a bounded number of bytes."""
    kind = kind_of(version)
    if kind == "image":
        if version.size > IMAGE_LIMIT:
            return Preview("none", note="This image is too large to show here; download it.")
        return Preview("image")
    if kind == "parquet":
        if version.size > PARQUET_LIMIT:
            return Preview("none", note="This Parquet file is too large to preview; download it.")
        return _parquet(await head_bytes(store, version, PARQUET_LIMIT))
    if kind == "binary":
        data = await head_bytes(store, version, HEX_LIMIT)
        return Preview("binary", text=_hex(data), truncated=version.size > len(data))
    data = await head_bytes(store, version, TEXT_LIMIT)
    cut = version.size > len(data)
    text = _decode(data, cut)
    if kind == "markdown":
        return Preview("markdown", html=_markdown(text), truncated=cut)
    if kind == "json" and not cut:
        try:
            pretty = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            return Preview("text", text=text, note="Not valid JSON; shown as text.")
        return Preview("json", text=pretty)
    if kind in ("csv", "tsv"):
        columns, rows, more = _table(text, "," if kind == "csv" else "\t", cut)
        return Preview("table", columns=columns, rows=rows, truncated=more)
    note = "Large JSON is shown as it is stored." if kind == "json" else ""
    return Preview("text", text=text, truncated=cut, note=note)
