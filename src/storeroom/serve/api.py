"""The HTTP API under ``/api/``, described by ``/api/openapi.json``.

Reads call the same functions as the pages and return their results as
JSON; downloads stream (``content.py``). Writes (store a version, set or
remove an alias, delete) exist only when the server was started with
``--allow-write``, and each checks the bearer token first
(:func:`~.safety.check_token`); after a write the listing snapshot is
dropped so the next list shows it. Names travel in query parameters, never
in the path, so no name can be mistaken for a route or a folder.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import NotFound
from .content import file_response, signed_redirect, version_response
from .diffs import compare
from .openapi import openapi_document
from .pages import _int
from .safety import HttpProblem, check_token
from .service import SORT_KEYS, Browser, check_name
from .storage import storage_report

__all__ = ["routes"]


def _required(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if not value:
        raise HttpProblem(400, f"the query parameter {name!r} is required")
    return value


def _diff_json(result: Any) -> dict[str, Any]:
    return {
        "old": result.old.to_json(),
        "new": result.new.to_json(),
        "fields": [vars_of(c) for c in result.fields],
        "metadata": [vars_of(c) for c in result.metadata],
        "comparable": result.comparable,
        "note": result.note,
        "lines": [
            {"kind": line.kind, "text": line.text, "old": line.old, "new": line.new}
            for line in result.lines
        ],
    }


def vars_of(change: Any) -> dict[str, Any]:
    return {"key": change.key, "old": change.old, "new": change.new, "kind": change.kind}


def routes(browser: Browser, settings: Any) -> list[Route]:
    """The API routes over ``browser`` (writes only with ``settings.allow_write``)."""
    store = browser.artifacts
    document = openapi_document(settings.allow_write)

    async def openapi(_request: Request) -> Response:
        return JSONResponse(document)

    async def artifacts(request: Request) -> Response:
        q = request.query_params
        sort = q.get("sort", "name")
        if sort not in SORT_KEYS:
            raise HttpProblem(400, f"sort must be one of {', '.join(SORT_KEYS)}")
        order = q.get("order", "asc")
        if order not in ("asc", "desc"):
            raise HttpProblem(400, "order must be asc or desc")
        page = await browser.artifact_list(
            query=q.get("q", ""),
            sort=sort,
            descending=order == "desc",
            offset=_int(request, "offset", 0),
            limit=_int(request, "limit", 50, 1, 500),
        )
        return JSONResponse(
            {
                "artifacts": page.entries,
                "total": page.total,
                "offset": page.offset,
                "limit": page.limit,
                "next_offset": page.next_offset,
                "searched_with": page.searched_with,
                "listing_age_seconds": round(page.age, 3),
            }
        )

    async def artifact(request: Request) -> Response:
        found = await browser.artifact(_required(request, "name"))
        return JSONResponse(
            {
                "name": found.name,
                "aliases": found.aliases,
                "versions": [v.to_json() for v in found.versions],
                "downstream": [{"name": n, "version": v} for n, v in found.downstream],
            }
        )

    async def version(request: Request) -> Response:
        info = await browser.version(
            _required(request, "name"), request.query_params.get("version")
        )
        return JSONResponse(info.to_json())

    async def content(request: Request) -> Response:
        q = request.query_params
        manifest = await browser.manifest(_required(request, "name"), q.get("version"))
        if settings.signed_downloads and q.get("inline") != "1":
            redirect = await signed_redirect(store, manifest, settings.signed_ttl)
            if redirect is not None:
                return redirect
        return version_response(request, store, manifest, inline=q.get("inline") == "1")

    async def diff(request: Request) -> Response:
        result = await compare(
            store, _required(request, "name"), _required(request, "a"), _required(request, "b")
        )
        return JSONResponse(_diff_json(result))

    async def files(request: Request) -> Response:
        folder = await browser.folder(
            request.query_params.get("path", ""),
            offset=_int(request, "offset", 0),
            limit=_int(request, "limit", 200, 1, 500),
        )
        return JSONResponse(
            {
                "path": folder.path,
                "total": folder.total,
                "offset": folder.offset,
                "entries": [
                    {
                        "path": e.path,
                        "folder": e.is_directory,
                        "size": e.size,
                        "modified": e.modified_at.isoformat(),
                    }
                    for e in folder.entries
                ],
            }
        )

    async def file(request: Request) -> Response:
        if browser.files is None:
            raise NotFound("this server shows no file store")
        return await file_response(request, browser.files, _required(request, "path"))

    async def storage(request: Request) -> Response:
        report = await storage_report(store, _int(request, "keep", 1, 1, 10**6))
        return JSONResponse(report.to_json())

    # -- writes -----------------------------------------------------------------

    async def put_content(request: Request) -> Response:
        check_token(request, settings.token)
        name = check_name(_required(request, "name"))
        raw_meta = request.query_params.get("metadata")
        try:
            metadata = json.loads(raw_meta) if raw_meta else None
        except ValueError:
            raise HttpProblem(400, "metadata must be a JSON object") from None
        if metadata is not None and not isinstance(metadata, dict):
            raise HttpProblem(400, "metadata must be a JSON object")
        body = await request.body()
        ctype = request.headers.get("content-type") or "application/octet-stream"
        result = await store.store_artifact(name, body, ctype, metadata)
        if not result.success:
            code = str(result.metadata.get("code", ""))
            status = 400 if code in ("invalid_argument", "invalid_path") else 409
            raise HttpProblem(status, result.error or "storing failed")
        browser.forget()
        return JSONResponse({"name": name, **(result.data or {}), "size": result.size}, 201)

    async def put_alias(request: Request) -> Response:
        check_token(request, settings.token)
        name = check_name(_required(request, "name"))
        alias, target = _required(request, "alias"), _required(request, "version")
        version_id = await store.set_alias(name, alias, target)
        browser.forget()
        return JSONResponse({"name": name, "alias": alias, "version": version_id})

    async def delete_alias(request: Request) -> Response:
        check_token(request, settings.token)
        name = check_name(_required(request, "name"))
        await store.remove_alias(name, _required(request, "alias"))
        browser.forget()
        return Response(status_code=204)

    async def delete_version(request: Request) -> Response:
        check_token(request, settings.token)
        name = check_name(_required(request, "name"))
        result = await store.delete_artifact(name, request.query_params.get("version"))
        if not result.success:
            status = 404 if result.metadata.get("code") == "not_found" else 409
            raise HttpProblem(status, result.error or "deleting failed")
        browser.forget()
        return JSONResponse({"name": name, **(result.data or {})})

    found = [
        Route("/openapi.json", openapi),
        Route("/artifacts", artifacts),
        Route("/artifact", artifact),
        Route("/version", version),
        Route("/content", content, methods=["GET", "HEAD"]),
        Route("/diff", diff),
        Route("/files", files),
        Route("/file", file, methods=["GET", "HEAD"]),
        Route("/storage", storage),
    ]
    if settings.allow_write:  # same paths, other methods (the router tries each in turn)
        found += [
            Route("/content", put_content, methods=["PUT"]),
            Route("/version", delete_version, methods=["DELETE"]),
            Route("/alias", put_alias, methods=["PUT"]),
            Route("/alias", delete_alias, methods=["DELETE"]),
        ]
    return found
