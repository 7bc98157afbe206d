"""The HTML pages: every page renders, hostile names and content stay text, previews
are bounded, errors are pages for browsers and problem details for everyone else."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from storeroom.artifactstore import ArtifactStore
from storeroom.providers.local.provider import LocalProvider
from storeroom.serve import preview

from .conftest import HOSTILE_NAME, HOSTILE_VALUE

HTML = {"Accept": "text/html"}
#: Markup that must never appear unescaped in a page.
_ACTIVE = re.compile(r"<script>alert|<img src=x|onerror=alert\(\d\)>|href=\"javascript:", re.I)


async def _page(client: httpx.AsyncClient, route: str, **params: str) -> str:
    response = await client.get(route, params=params, headers=HTML)
    assert response.status_code == 200, (route, params, response.text[:300])
    assert response.headers["content-type"].startswith("text/html")
    return response.text


async def test_every_page_renders(client: httpx.AsyncClient) -> None:
    assert "reports/q3.md" in await _page(client, "/")
    artifact = await _page(client, "/artifact", name="reports/q3.md")
    assert all(v in artifact for v in ("v1", "v2", "v3", "published", "grace"))
    version = await _page(client, "/version", name="reports/q3.md", v="v3")
    assert "<h1>Quarterly report</h1>" in version  # Markdown rendered
    diff = await _page(client, "/diff", name="reports/q3.md", a="v1", b="v3", mode="split")
    assert 'class="del"' in diff
    assert 'class="add"' in diff
    assert "metadata.author" in diff
    files = await _page(client, "/files", path="docs")
    assert "guide.md" in files
    assert "&lt;b&gt;odd name&lt;i&gt;.txt" in files
    storage = await _page(client, "/storage")
    assert "saved by deduplication" in storage


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/", {}),
        ("/", {"q": HOSTILE_NAME}),
        ("/", {"q": "evil/"}),
        ("/artifact", {"name": HOSTILE_NAME}),
        ("/version", {"name": HOSTILE_NAME, "v": "v1"}),
        ("/version", {"name": HOSTILE_NAME, "v": "v2"}),
        ("/diff", {"name": HOSTILE_NAME, "a": "v1", "b": "v2"}),
        ("/files", {"path": "docs"}),
    ],
)
async def test_hostile_names_metadata_and_content_are_escaped(
    client: httpx.AsyncClient, path: str, params: dict[str, str]
) -> None:
    text = await _page(client, path, **params)
    assert not _ACTIVE.search(text), _ACTIVE.search(text)
    if path != "/files" and params.get("q") != HOSTILE_NAME:
        assert "&lt;script&gt;alert(1)&lt;" in text  # the name is shown, as text
    if path == "/version" and params["v"] == "v1":
        assert "&lt;script&gt;alert(5)" in text  # raw HTML in Markdown stays text
        assert HOSTILE_VALUE not in text
        assert "onerror=alert(3)" in text


async def test_errors_are_pages_for_browsers_and_problems_otherwise(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/artifact", params={"name": "<script>nope"}, headers=HTML)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "&lt;script&gt;nope" in page.text
    assert "<script>nope" not in page.text
    problem = await client.get("/artifact", params={"name": "nope"})
    assert problem.headers["content-type"] == "application/problem+json"
    assert (await client.get("/no/such/page")).status_code == 404
    bad = await client.get("/", params={"offset": "-1"}, headers=HTML)
    assert bad.status_code == 400


class CountingProvider(LocalProvider):
    """Counts the bytes read, to show previews stay bounded."""

    read_bytes = 0

    async def read_range(self, path: str, start: int, end: int | None = None) -> bytes:
        data = await super().read_range(path, start, end)
        CountingProvider.read_bytes += len(data)
        return data

    async def get(self, path: str) -> Any:
        assert not path.startswith("blobs/"), "a preview must not read a whole blob"
        return await super().get(path)


async def test_previews_are_bounded_and_typed(store_root: Path) -> None:
    store = ArtifactStore(CountingProvider(str(store_root / "artifacts")), inline_limit=64)
    try:
        big = await store.get_version("logs/big.txt")
        shown = await preview.make_preview(store, big)
        assert shown.kind == "text"
        assert shown.truncated
        assert len(shown.text) == preview.TEXT_LIMIT
        assert CountingProvider.read_bytes <= preview.TEXT_LIMIT

        table = await preview.make_preview(store, await store.get_version("data/visits.csv"))
        assert table.kind == "table"
        assert table.columns == ["city", "visits"]
        assert len(table.rows) == preview.TABLE_ROWS
        assert table.truncated

        pretty = await preview.make_preview(store, await store.get_version("data/metrics.json"))
        assert pretty.kind == "json"
        assert '\n  "accuracy": 0.93' in pretty.text

        binary = await preview.make_preview(store, await store.get_version("bin/blob.bin"))
        assert binary.kind == "binary"
        assert binary.text.startswith("00000000  00 01 02")

        image = await preview.make_preview(store, await store.get_version("images/dot.png"))
        assert image.kind == "image"

        md = await preview.make_preview(store, await store.get_version(HOSTILE_NAME, "v1"))
        assert "<script" not in md.html
        assert "<img" not in md.html
        assert "href" not in md.html
    finally:
        await store.aclose()


def test_markdown_links_and_html_are_neutralised() -> None:
    html = preview._markdown(
        "<img src=x onerror=alert(1)>\n\n[a](javascript:alert(1)) [b](https://e.x)"
    )
    assert "<img" not in html
    assert 'href="javascript:' not in html
    assert 'href="https://e.x"' in html


async def test_parquet_head_when_pyarrow_is_installed(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    import io

    sink = io.BytesIO()
    pq.write_table(pa.table({"x": list(range(500)), "y": ["a"] * 500}), sink)
    store = ArtifactStore(LocalProvider(str(tmp_path)))
    try:
        await store.store_artifact("t.parquet", sink.getvalue(), "application/vnd.apache.parquet")
        shown = await preview.make_preview(store, await store.get_version("t.parquet"))
        assert shown.kind == "table"
        assert shown.columns == ["x", "y"]
        assert len(shown.rows) == preview.TABLE_ROWS
        assert shown.truncated
    finally:
        await store.aclose()
