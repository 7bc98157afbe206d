"""The server's safety rules, each written once.

- **Errors** are RFC 9457 problem details (``application/problem+json``):
  a status, a title and, for storeroom's own typed errors, their message
  (which never holds a secret: URLs are masked where errors are made). Any
  other exception is a bare ``500 Internal Server Error``: no type, no
  message, no stack trace. A browser asking for HTML gets the same problem
  as an escaped page.
- **Headers** on every response: a strict Content-Security-Policy (only this
  server's own styles, scripts and images; no inline script, no frames, no
  form posts elsewhere), ``nosniff``, ``no-referrer``, ``DENY`` framing.
- **Limits**: a request body over ``max_body`` bytes is refused with 413
  (by ``Content-Length`` up front, by counting when streamed); a URL longer
  than :data:`MAX_URL` with 414. Host headers outside ``allowed_hosts`` are
  refused (a DNS-rebinding page cannot read a loopback server).
- **Writes** need ``Authorization: Bearer <token>``, compared with
  :func:`hmac.compare_digest`; the token is never logged or echoed.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import StorageError

__all__ = [
    "CSP",
    "MAX_URL",
    "HttpProblem",
    "SafetyMiddleware",
    "check_token",
    "problem",
    "status_of",
]

#: The pages' Content-Security-Policy.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
#: Longest request target (path and query) accepted.
MAX_URL = 8192
_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
#: storeroom error code -> HTTP status.
_STATUS = {
    "not_found": 404,
    "already_exists": 409,
    "precondition_failed": 412,
    "invalid_path": 400,
    "invalid_argument": 400,
    "permission_denied": 403,
    "not_supported": 501,
    "backend_unavailable": 503,
    "configuration_error": 400,
    "invalid_filter": 400,
    "folder_not_empty": 409,
    "outcome_unknown": 503,
    "integrity_error": 500,
}


class HttpProblem(Exception):
    """An error the server answers with ``status`` and ``detail`` (safe to show)."""

    def __init__(self, status: int, detail: str, headers: Mapping[str, str] | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})


def status_of(exc: BaseException) -> tuple[int, str]:
    """The HTTP status and the detail shown for ``exc`` (nothing for unknown errors)."""
    if isinstance(exc, HttpProblem):
        return exc.status, exc.detail
    if isinstance(exc, StorageError):
        return _STATUS.get(exc.code, 500), str(exc).split("\n", 1)[0]
    if isinstance(exc, ValueError):  # argument checks (UnicodeError included)
        return 400, "invalid request argument"
    return 500, ""


def problem(
    request: Request | None,
    status: int,
    detail: str = "",
    headers: Mapping[str, str] | None = None,
    render: Any = None,
) -> Response:
    """A problem-details response (or an HTML page for a browser's page request)."""
    title = HTTPStatus(status).phrase
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    wants_html = (
        request is not None
        and render is not None
        and not request.url.path.startswith("/api/")
        and "text/html" in request.headers.get("accept", "")
    )
    if wants_html:
        return HTMLResponse(render(body), status_code=status, headers=dict(headers or {}))
    return Response(
        json.dumps(body),
        status_code=status,
        media_type="application/problem+json",
        headers=dict(headers or {}),
    )


def check_token(request: Request, token: str | None) -> None:
    """Refuse a write without the server's bearer token (constant-time comparison).

    Raises:
        HttpProblem: 403 if writes are off, 401 without the right token.
    """
    if token is None:
        raise HttpProblem(403, "this server is read-only (start it with --allow-write)")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    ok = scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("utf-8"), token.encode("utf-8")
    )
    if not ok:
        raise HttpProblem(
            401,
            "a valid bearer token is required",
            {"WWW-Authenticate": 'Bearer realm="storeroom"'},
        )


class SafetyMiddleware:
    """Security headers, request limits and host checks around the whole app (pure ASGI,
    so streamed downloads pass through untouched)."""

    def __init__(
        self, app: ASGIApp, *, max_body: int, allowed_hosts: Iterable[str] | None = None
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.allowed_hosts = None if allowed_hosts is None else {h.lower() for h in allowed_hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is not None:
            await self._send_headers(problem(None, *refusal), scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise HttpProblem(413, f"the request body is larger than {self.max_body} bytes")
            return message

        await self._send_headers(self.app, scope, limited, send)

    def _refusal(self, scope: Scope) -> tuple[int, str] | None:
        headers = dict(scope["headers"])
        target = len(scope.get("raw_path", b"")) + len(scope.get("query_string", b""))
        if target > MAX_URL:
            return 414, f"the URL is longer than {MAX_URL} bytes"
        if self.allowed_hosts is not None:
            host = headers.get(b"host", b"").decode("latin-1").lower()
            hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if hostname.strip("[]") not in self.allowed_hosts:
                return 421, "this server does not answer for that host name"
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit():
                return 400, "invalid Content-Length"
            if int(length) > self.max_body:
                return 413, f"the request body is larger than {self.max_body} bytes"
        return None

    @staticmethod
    async def _send_headers(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers.extend(h for h in _HEADERS if h[0] not in names)
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", CSP.encode("ascii")))
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, with_headers)
