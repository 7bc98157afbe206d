"""The OpenAPI 3.1 document of ``/api/`` (write operations only when writes are on).

Written by hand beside the routes it describes; ``tests/serve`` runs
schemathesis against it, so a route and its description cannot drift apart
unnoticed (status codes, parameters, response types).
"""

from __future__ import annotations

from typing import Any

__all__ = ["openapi_document"]

_PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def _q(name: str, description: str, *, required: bool = False, schema: Any = None) -> Any:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema or {"type": "string"},
    }


_NAME = _q("name", "The artifact name (a key: a/b/c.txt).", required=True)
_VERSION = _q("version", "v3, 3, an alias or latest (default: latest).")
_OFFSET = _q("offset", "Entries to skip.", schema={"type": "integer", "minimum": 0})


def _errors(*codes: int) -> dict[str, Any]:
    return {str(c): {"description": "A problem (RFC 9457).", "content": _PROBLEM} for c in codes}


def _json(description: str, schema: Any) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_DOWNLOAD = {
    "200": {
        "description": "The content, streamed.",
        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
    },
    "206": {
        "description": "The bytes a single Range asked for.",
        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
    },
    "304": {"description": "Not modified (If-None-Match matched the ETag)."},
    "416": {"description": "Range not satisfiable."},
}


def openapi_document(allow_write: bool) -> dict[str, Any]:
    """The API's OpenAPI document."""
    obj = {"type": "object"}
    paths: dict[str, Any] = {
        "/api/artifacts": {
            "get": {
                "summary": "List or search artifacts (a name prefix, or a catalog filter).",
                "operationId": "listArtifacts",
                "parameters": [
                    _q("q", "A name prefix, or a catalog filter when the store has one."),
                    _q(
                        "sort",
                        "Sort key.",
                        schema={"enum": ["name", "updated", "created", "size", "versions"]},
                    ),
                    _q("order", "asc or desc.", schema={"enum": ["asc", "desc"]}),
                    _OFFSET,
                    _q(
                        "limit",
                        "Page size.",
                        schema={"type": "integer", "minimum": 1, "maximum": 500},
                    ),
                ],
                "responses": {"200": _json("A page of artifacts.", obj), **_errors(400, 503)},
            }
        },
        "/api/artifact": {
            "get": {
                "summary": "An artifact's versions (newest first) and aliases.",
                "operationId": "getArtifact",
                "parameters": [_NAME],
                "responses": {"200": _json("The artifact.", obj), **_errors(400, 404)},
            }
        },
        "/api/version": {
            "get": {
                "summary": "One version's manifest (no content).",
                "operationId": "getVersion",
                "parameters": [_NAME, _VERSION],
                "responses": {"200": _json("The version.", obj), **_errors(400, 404)},
            }
        },
        "/api/content": {
            "get": {
                "summary": "Download a version's content (ranges, ETag).",
                "operationId": "getContent",
                "parameters": [
                    _NAME,
                    _VERSION,
                    _q("inline", "1: show a raster image inline.", schema={"enum": ["0", "1"]}),
                ],
                "responses": {
                    **_DOWNLOAD,
                    "307": {"description": "Redirect to a signed URL (--signed-downloads)."},
                    **_errors(400, 404, 500),
                },
            }
        },
        "/api/diff": {
            "get": {
                "summary": "What changed between two versions (lines and metadata).",
                "operationId": "getDiff",
                "parameters": [
                    _NAME,
                    _q("a", "The old version.", required=True),
                    _q("b", "The new version.", required=True),
                ],
                "responses": {"200": _json("The difference.", obj), **_errors(400, 404)},
            }
        },
        "/api/files": {
            "get": {
                "summary": "One level of a folder of the file store.",
                "operationId": "listFiles",
                "parameters": [
                    _q("path", "The folder (empty: the top)."),
                    _OFFSET,
                    _q(
                        "limit",
                        "Page size.",
                        schema={"type": "integer", "minimum": 1, "maximum": 500},
                    ),
                ],
                "responses": {"200": _json("The folder.", obj), **_errors(400, 404, 501)},
            }
        },
        "/api/file": {
            "get": {
                "summary": "Download a file of the file store (ranges, ETag).",
                "operationId": "getFile",
                "parameters": [_q("path", "The file's key.", required=True)],
                "responses": {**_DOWNLOAD, **_errors(400, 404)},
            }
        },
        "/api/storage": {
            "get": {
                "summary": "Versions, bytes, deduplication, what gc and keep-last-N would free.",
                "operationId": "getStorage",
                "parameters": [
                    _q(
                        "keep",
                        "N of keep-last-N.",
                        schema={"type": "integer", "minimum": 1, "maximum": 1000000},
                    ),
                ],
                "responses": {"200": _json("The figures.", obj), **_errors(400)},
            }
        },
    }
    if allow_write:
        auth: list[dict[str, list[str]]] = [{"bearer": []}]
        paths["/api/content"]["put"] = {
            "summary": "Store a new version (the body is the content).",
            "operationId": "putContent",
            "security": auth,
            "parameters": [_NAME, _q("metadata", "A JSON object.")],
            "requestBody": {
                "required": True,
                "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
            },
            "responses": {"201": _json("Stored.", obj), **_errors(400, 401, 409, 413)},
        }
        paths["/api/version"]["delete"] = {
            "summary": "Delete one version, or every version without `version`.",
            "operationId": "deleteVersion",
            "security": auth,
            "parameters": [_NAME, _VERSION],
            "responses": {"200": _json("Deleted.", obj), **_errors(400, 401, 404, 409)},
        }
        alias_params = [_NAME, _q("alias", "The alias.", required=True)]
        paths["/api/alias"] = {
            "put": {
                "summary": "Point an alias at a version.",
                "operationId": "putAlias",
                "security": auth,
                "parameters": [*alias_params, _q("version", "The version.", required=True)],
                "responses": {"200": _json("Set.", obj), **_errors(400, 401, 404, 409)},
            },
            "delete": {
                "summary": "Remove an alias.",
                "operationId": "deleteAlias",
                "security": auth,
                "parameters": alias_params,
                "responses": {"204": {"description": "Removed."}, **_errors(400, 401, 404)},
            },
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "storeroom",
            "version": "1",
            "description": "Browse, search and download versioned artifacts and files.",
        },
        "paths": paths,
        "components": {
            "schemas": {
                "Problem": {
                    "type": "object",
                    "required": ["title", "status"],
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                    },
                }
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
