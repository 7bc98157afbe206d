"""The HTTP API: listing, search, versions, downloads (ranges, ETags), diff, files, storage,
and writes behind --allow-write and the bearer token."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from .conftest import HOSTILE_NAME, REPORTS, TOKEN


async def test_list_sort_page_and_prefix_search(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/artifacts")).json()
    names = [a["name"] for a in body["artifacts"]]
    assert names == sorted(names)
    assert "reports/q3.md" in names
    assert body["total"] == len(names)
    assert body["searched_with"] == "prefix"

    by_size = (await client.get("/api/artifacts?sort=size&order=desc")).json()["artifacts"]
    assert by_size[0]["name"] == "logs/big.txt"

    first = (await client.get("/api/artifacts?limit=2")).json()
    second = (await client.get(f"/api/artifacts?limit=2&offset={first['next_offset']}")).json()
    assert [a["name"] for a in first["artifacts"] + second["artifacts"]] == names[:4]

    found = (await client.get("/api/artifacts", params={"q": "data/"})).json()
    assert [a["name"] for a in found["artifacts"]] == ["data/metrics.json", "data/visits.csv"]

    bad = await client.get("/api/artifacts?sort=colour")
    assert bad.status_code == 400
    assert bad.headers["content-type"] == "application/problem+json"


async def test_artifact_versions_and_aliases(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/artifact", params={"name": "reports/q3.md"})).json()
    assert [v["version"] for v in body["versions"]] == ["v3", "v2", "v1"]
    assert body["aliases"] == {"latest": "v3", "published": "v2"}
    v2 = body["versions"][1]
    assert v2["aliases"] == ["published"]
    assert v2["metadata"] == REPORTS[1][1]
    assert v2["sha256"] == hashlib.sha256(REPORTS[1][0].encode()).hexdigest()

    one = await client.get("/api/version", params={"name": "reports/q3.md", "version": "published"})
    assert one.json()["version"] == "v2"
    missing = await client.get("/api/version", params={"name": "reports/q3.md", "version": "v9"})
    assert missing.status_code == 404
    assert "v9" in missing.json()["detail"]


async def test_download_whole_range_etag(client: httpx.AsyncClient) -> None:
    params = {"name": "logs/big.txt"}
    whole = await client.get("/api/content", params=params)
    assert whole.status_code == 200
    assert whole.content == b"line\n" * 200_000
    sha = hashlib.sha256(whole.content).hexdigest()
    assert whole.headers["etag"] == f'"{sha}"'
    assert whole.headers["x-storeroom-sha256"] == sha
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-disposition"].startswith('attachment; filename="big.txt"')
    assert "sandbox" in whole.headers["content-security-policy"]

    part = await client.get("/api/content", params=params, headers={"Range": "bytes=5-14"})
    assert part.status_code == 206
    assert part.content == b"line\nline\n"
    assert part.headers["content-range"] == "bytes 5-14/1000000"
    tail = await client.get("/api/content", params=params, headers={"Range": "bytes=-3"})
    assert tail.content == b"ne\n"
    beyond = await client.get("/api/content", params=params, headers={"Range": "bytes=2000000-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == "bytes */1000000"
    stale = await client.get(
        "/api/content", params=params, headers={"Range": "bytes=0-1", "If-Range": '"other"'}
    )
    assert stale.status_code == 200  # If-Range did not match: the whole content

    cached = await client.get("/api/content", params=params, headers={"If-None-Match": f'"{sha}"'})
    assert cached.status_code == 304
    assert cached.content == b""
    head = await client.head("/api/content", params=params)
    assert head.status_code == 200
    assert head.headers["content-length"] == "1000000"


async def test_small_inline_version_downloads_and_ranges(client: httpx.AsyncClient) -> None:
    params = {"name": "reports/q3.md", "version": "v1"}
    whole = await client.get("/api/content", params=params)
    assert whole.content == REPORTS[0][0].encode()
    part = await client.get("/api/content", params=params, headers={"Range": "bytes=2-10"})
    assert part.content == REPORTS[0][0].encode()[2:11]


async def test_hostile_name_download_header_is_safe(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/content", params={"name": HOSTILE_NAME})
    disposition = response.headers["content-disposition"]
    ascii_part = disposition.split(";")[1]
    assert "<" not in ascii_part
    assert '"' not in ascii_part.split('"', 2)[1]
    assert "filename*=UTF-8''" in disposition
    assert "%3C" in disposition
    assert response.headers["content-type"].startswith("text/markdown")


async def test_only_raster_images_inline(client: httpx.AsyncClient) -> None:
    image = await client.get("/api/content", params={"name": "images/dot.png", "inline": "1"})
    assert image.headers["content-disposition"].startswith("inline")
    text = await client.get("/api/content", params={"name": HOSTILE_NAME, "inline": "1"})
    assert text.headers["content-disposition"].startswith("attachment")


async def test_diff_lines_and_metadata(client: httpx.AsyncClient) -> None:
    body = (
        await client.get("/api/diff", params={"name": "reports/q3.md", "a": "v1", "b": "v3"})
    ).json()
    kinds = {(line["kind"], line["text"]) for line in body["lines"]}
    assert ("del", "Sales grew.") in kinds
    assert ("add", "Outlook: steady.") in kinds
    meta = {c["key"]: (c["old"], c["new"], c["kind"]) for c in body["metadata"]}
    assert meta == {
        "author": ("ada", "grace", "changed"),
        "status": ("draft", "final", "changed"),
    }
    binary = (
        await client.get("/api/diff", params={"name": "bin/blob.bin", "a": "v1", "b": "v1"})
    ).json()
    assert binary["lines"] == []
    assert "identical" in binary["note"]


async def test_files_listing_download_and_no_escape(client: httpx.AsyncClient) -> None:
    top = (await client.get("/api/files")).json()
    assert [(e["path"], e["folder"]) for e in top["entries"]] == [
        ("docs", True),
        ("index.html", False),
    ]
    got = await client.get("/api/file", params={"path": "docs/guide.md"})
    assert got.content == b"# Guide\n"
    assert got.headers["content-disposition"].startswith("attachment")
    for hostile in ("../artifacts/heads", "/etc/passwd", "docs/../../x", "docs\\..\\x", "a\x00b"):
        for route in ("/api/file", "/api/files"):
            response = await client.get(route, params={"path": hostile})
            assert response.status_code in (400, 404), (route, hostile)
            assert response.headers["content-type"] == "application/problem+json"
    escaped = await client.get("/api/..%2F..%2Fetc%2Fpasswd")
    assert escaped.status_code == 404


async def test_storage_figures(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/storage")).json()
    assert body["artifacts"] == 9
    assert body["versions"] == 12
    assert body["dedup_saved_bytes"] == len("same content " * 100)  # copies/a and b share a blob
    assert body["keep"] == 1
    assert body["keep_versions"] == 3
    assert body["gc_blobs"] == 0
    two = (await client.get("/api/storage?keep=2")).json()
    assert two["keep_versions"] == 1


async def test_reads_only_by_default(client: httpx.AsyncClient) -> None:
    response = await client.put("/api/content?name=x.txt", content=b"x")
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    spec = (await client.get("/api/openapi.json")).json()
    assert "put" not in spec["paths"]["/api/content"]
    assert "/api/alias" not in spec["paths"]


async def test_writes_need_the_token(writer: httpx.AsyncClient) -> None:
    url = "/api/content?name=notes/new.txt"
    assert (await writer.put(url, content=b"hi")).status_code == 401
    wrong = await writer.put(url, content=b"hi", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert TOKEN not in wrong.text
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/plain"}
    meta = json.dumps({"by": "test"})
    made = await writer.put(
        "/api/content", content=b"hello", headers=auth,
        params={"name": "notes/new.txt", "metadata": meta},
    )  # fmt: skip
    assert made.status_code == 201
    assert made.json()["version"] == "v1"
    listed = (await writer.get("/api/artifacts", params={"q": "notes/"})).json()
    assert [a["name"] for a in listed["artifacts"]] == ["notes/new.txt"]  # snapshot dropped

    alias = await writer.put(
        "/api/alias", params={"name": "notes/new.txt", "alias": "good", "version": "v1"},
        headers=auth,
    )  # fmt: skip
    assert alias.json()["version"] == "v1"
    gone = await writer.delete("/api/version", params={"name": "notes/new.txt"}, headers=auth)
    assert gone.json()["deleted"] == ["v1"]
    assert (await writer.get("/api/artifact", params={"name": "notes/new.txt"})).status_code == 404


async def test_request_limits(writer: httpx.AsyncClient) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    big = await writer.put("/api/content?name=big.bin", content=b"x" * 5000, headers=auth)
    assert big.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"x" * 1000

    streamed = await writer.put("/api/content?name=big.bin", content=chunks(), headers=auth)
    assert streamed.status_code == 413
    assert (await writer.get("/api/artifact", params={"name": "big.bin"})).status_code == 404
    long_url = await writer.get("/api/artifacts", params={"q": "x" * 9000})
    assert long_url.status_code == 414


async def test_problem_details_never_leak(writer: httpx.AsyncClient, tmp_path: Path) -> None:
    response = await writer.get("/api/artifact", params={"name": "/abs"})
    body = response.json()
    assert response.status_code == 400
    assert set(body) == {"type", "title", "status", "detail"}
    assert "Traceback" not in response.text
    assert str(tmp_path) not in response.text


async def test_host_header_checked(client: httpx.AsyncClient) -> None:
    rebinding = await client.get("/api/artifacts", headers={"Host": "attacker.example"})
    assert rebinding.status_code == 421
    assert (
        await client.get("/api/artifacts", headers={"Host": "localhost:8000"})
    ).status_code == 200


@pytest.mark.parametrize("path", ["/", "/api/artifacts", "/version?name=reports/q3.md"])
async def test_security_headers(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
