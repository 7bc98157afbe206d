"""The HTML pages: server-rendered with Jinja2 templates, autoescaped.

Every value reaches HTML through a template with autoescape on (names,
metadata, previews, error details); the one exception is Markdown, which
``preview.py`` renders with raw HTML disabled. Links are built with
:func:`link`, which percent-encodes every query value, so a name like
``"><img onerror=...>`` stays a name. Pages never write.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from .diffs import compare
from .preview import make_preview
from .service import SORT_KEYS, Browser
from .storage import storage_report

__all__ = ["human_size", "link", "render_problem", "routes"]

_ENV = Environment(
    loader=PackageLoader("storeroom.serve", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


def human_size(size: int | None) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def when(iso: str | None) -> str:
    """An ISO time as ``2026-05-04 10:22 UTC``."""
    if not iso:
        return ""
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return iso


def link(route: str, /, **params: Any) -> str:
    """``route`` with its query (values percent-encoded; ``None`` values left out)."""
    query = urlencode({k: v for k, v in params.items() if v is not None and v != ""})
    return f"{route}?{query}" if query else route


def as_json(value: Any) -> str:
    """A metadata value as compact JSON text (strings unquoted)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


@functools.lru_cache(maxsize=20_000)
def _row(fields: tuple[Any, ...]) -> Markup:
    name, version, versions, size, updated, content_type, aliases = fields
    html = _ENV.get_template("_row.html").render(
        name=name,
        version=version,
        versions=versions,
        size=size,
        updated=updated,
        content_type=content_type,
        aliases=aliases,
    )
    return Markup(html)  # noqa: S704 - rendered by a template with autoescape


def artifact_row(entry: Mapping[str, Any]) -> Markup:
    """One row of the artifact list, rendered once per distinct entry (the list page of a
    large store is then mostly cached rows; listing entries are immutable records)."""
    fields = (
        str(entry["name"]),
        str(entry.get("version", "")),
        int(entry.get("versions") or 1),
        int(entry.get("size") or 0),
        str(entry.get("updated_at") or ""),
        str(entry.get("content_type") or ""),
        tuple(entry.get("aliases") or ()),
    )
    return _row(fields)


_ENV.filters.update(size=human_size, when=when, as_json=as_json)
_ENV.globals.update(link=link, artifact_row=artifact_row)


def _render(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(_ENV.get_template(template).render(**context), status_code=status)


def render_problem(body: Mapping[str, Any]) -> str:
    """The error page of a problem (escaped like every page)."""
    return _ENV.get_template("error.html").render(problem=body, title="storeroom")


def _int(request: Request, name: str, default: int, low: int = 0, high: int = 10**9) -> int:
    from .safety import HttpProblem

    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise HttpProblem(400, f"{name} must be a whole number from {low} to {high}")
    return int(raw)


def routes(browser: Browser, settings: Any) -> list[Route]:
    """The page routes over ``browser``."""
    base = {"title": settings.title, "has_files": browser.files is not None}
    placeholder = (
        "Name prefix, or a filter: metadata.author = 'ann'"
        if getattr(browser.artifacts, "find", None) is not None
        else "Name prefix, e.g. reports/"
    )

    async def index(request: Request) -> Response:
        q = request.query_params
        sort = q.get("sort", "name")
        descending = q.get("order", "desc" if sort in ("updated", "created") else "asc") == "desc"
        page = await browser.artifact_list(
            query=q.get("q", ""),
            sort=sort if sort in SORT_KEYS else "name",
            descending=descending,
            offset=_int(request, "offset", 0),
            limit=_int(request, "limit", 50, 1, 500),
        )
        return _render("list.html", page=page, placeholder=placeholder, nav="list", **base)

    async def artifact(request: Request) -> Response:
        found = await browser.artifact(request.query_params.get("name", ""))
        return _render("artifact.html", artifact=found, nav="list", **base)

    async def version(request: Request) -> Response:
        q = request.query_params
        info = await browser.version(q.get("name", ""), q.get("v"))
        manifest = await browser.manifest(info.name, info.version)
        preview = await make_preview(browser.artifacts, manifest)
        versions = await browser.artifacts.get_artifact_versions(info.name)
        return _render(
            "version.html", v=info, preview=preview, versions=versions, nav="list", **base
        )

    async def diff(request: Request) -> Response:
        q = request.query_params
        name = q.get("name", "")
        versions = await browser.artifacts.get_artifact_versions(name) if name else []
        a = q.get("a") or (versions[-2] if len(versions) > 1 else "latest")
        b = q.get("b") or "latest"
        mode = "split" if q.get("mode") == "split" else "unified"
        result = await compare(browser.artifacts, name, a, b)
        return _render(
            "diff.html", d=result, mode=mode, versions=versions, a=a, b=b, nav="list", **base
        )

    async def files(request: Request) -> Response:
        folder = await browser.folder(
            request.query_params.get("path", ""), offset=_int(request, "offset", 0)
        )
        return _render("files.html", folder=folder, nav="files", **base)

    async def storage(request: Request) -> Response:
        keep = _int(request, "keep", 1, 1, 10**6)
        report = await storage_report(browser.artifacts, keep)
        return _render("storage.html", r=report, nav="storage", **base)

    return [
        Route("/", index),
        Route("/artifact", artifact),
        Route("/version", version),
        Route("/diff", diff),
        Route("/files", files),
        Route("/storage", storage),
    ]
