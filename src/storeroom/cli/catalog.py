"""``storeroom artifacts find | lineage | reindex``: the catalog from the command line.

``--index URL`` (or ``STOREROOM_INDEX``) names the catalog index
(``sqlite:///path/catalog.db`` or ``postgresql://...``). Every artifact command
opens its store with it, so ``put``, ``rm``, ``alias`` and ``keep`` keep the
index current; without one, ``find`` and ``lineage`` scan the store.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import click

from .output import human_size, when
from .state import json_option, state, store_option

if TYPE_CHECKING:
    from ..artifactstore import ArtifactStore
    from ..catalog import FindPage

__all__ = ["CATALOG_COMMANDS", "index_option", "index_url"]

_KEY = "storeroom.index"


def _set_index(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.meta[_KEY] = value
        state().redact.add(value)


def index_url() -> str | None:
    """The index of this invocation: ``--index``, else ``$STOREROOM_INDEX``, else none."""
    return click.get_current_context().meta.get(_KEY) or os.environ.get("STOREROOM_INDEX") or None


#: ``--index URL`` on a command (also accepted on ``storeroom artifacts``).
index_option = click.option(
    "--index",
    metavar="URL",
    expose_value=False,
    callback=_set_index,
    help="The catalog index: sqlite:///catalog.db or postgresql://... ($STOREROOM_INDEX).",
)


def _usage(exc: Exception) -> click.UsageError:
    return click.UsageError(str(exc).split("\n", 1)[0])


def _split(ref: str) -> tuple[str, str | None]:
    """``NAME@VERSION`` -> (NAME, VERSION); a bare NAME means the latest."""
    name, sep, version = ref.rpartition("@")
    if sep and name and version and "/" not in version:
        return name, version
    return ref, None


@click.command("find")
@click.argument("filter", default="", required=False)
@click.option("--order-by", "order_by", multiple=True, metavar="FIELD [asc|desc]",
              help="Sort by name, version, created, size, content_type or sha256 (repeatable).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True,
              help="Versions per page.")
@click.option("--page-token", metavar="TOKEN", help="Continue after the page that gave TOKEN.")
@click.option("--all", "every", is_flag=True, help="Every page, not only the first.")
@index_option
@json_option
@store_option
def find(
    filter: str, order_by: tuple[str, ...], limit: int, page_token: str | None, every: bool
) -> None:
    """Find versions matching FILTER (empty: every version).

    \b
    Examples:
      storeroom artifacts find "metadata.stage = 'prod' and latest = true"
      storeroom artifacts find "name like 'models/%' and created > '2026-01-01'"
      storeroom artifacts find "input = 'data/train.csv@v3'" --json
    """
    from ..catalog import FilterError
    from .artifacts import _with_store

    async def body(store: ArtifactStore) -> tuple[list[FindPage], list[Any]]:
        pages = [await store.find(filter, order_by=list(order_by) or None, limit=limit,
                                  page_token=page_token)]
        while every and pages[-1].next_page_token:
            pages.append(await store.find(filter, order_by=list(order_by) or None, limit=limit,
                                          page_token=pages[-1].next_page_token))
        return pages, [e for page in pages for e in page.entries]

    try:
        pages, entries = _with_store(body)
    except FilterError as exc:
        raise _usage(exc) from None
    last = pages[-1]
    document = {
        "entries": [e.to_dict() for e in entries],
        "next_page_token": last.next_page_token,
        "source": last.source,
        "as_of": last.as_of.isoformat() if last.as_of else None,
    }
    out = state().output()
    rows = (
        (
            e.name, e.version, human_size(e.size), when(e.created), ", ".join(e.aliases),
            ", ".join(f"{k}={v}" for k, v in e.metadata.items()),
        )
        for e in entries
    )

    def text() -> None:
        out.table(("NAME", "VERSION", "SIZE", "CREATED", "ALIASES", "METADATA"), rows,
                  right=("SIZE",))
        if last.next_page_token:
            out.line(f"More: --page-token {last.next_page_token}")

    out.result(document, text)


@click.command("lineage")
@click.argument("ref", metavar="NAME[@VERSION]")
@click.option("--down", is_flag=True, help="What was made from it (default: what it was made of).")
@click.option("--depth", type=click.IntRange(min=1), default=None, help="Steps to follow.")
@index_option
@json_option
@store_option
def lineage(ref: str, down: bool, depth: int | None) -> None:
    """The inputs NAME[@VERSION] was made from, and theirs (--down: what used it)."""
    from .artifacts import _with_store

    name, version = _split(ref)

    async def body(store: ArtifactStore) -> tuple[str, list[Any]]:
        start = await store.get_version(name, version)
        links = await store.lineage(name, start.version, direction="down" if down else "up",
                                    depth=depth)
        return f"{start.name}@{start.version}", links

    root, links = _with_store(body)
    out = state().output()

    def text() -> None:
        out.line(root)
        for link in links:
            out.line(f"{'  ' * link.depth}{link.name}@{link.version}"
                     f"  ({'used by' if down else 'input of'} {link.via_name}@v{link.via_number})")

    out.result({"artifact": root, "direction": "down" if down else "up",
                "links": [link.to_dict() for link in links]}, text)


@click.command("reindex")
@click.option("--catch-up", is_flag=True,
              help="Only changes since the index's watermark (default: rebuild from scratch).")
@index_option
@json_option
@store_option
def reindex(catch_up: bool) -> None:
    """Rebuild the catalog index from the store's manifests (or --catch-up)."""
    from .artifacts import _with_store

    if index_url() is None:
        raise click.UsageError("no index: pass --index URL or set STOREROOM_INDEX")
    report = _with_store(lambda store: store.reconcile() if catch_up else store.reindex())
    out = state().output()
    out.result(
        {"artifacts": report.artifacts, "versions": report.versions,
         "seconds": round(report.seconds, 3), "watermark": report.watermark.isoformat()},
        lambda: out.line(
            f"{'Caught up' if catch_up else 'Indexed'} {report.versions} versions of "
            f"{report.artifacts} artifacts in {report.seconds:.2f} s."
        ),
    )


CATALOG_COMMANDS = [find, lineage, reindex]
