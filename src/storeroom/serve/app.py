"""The ASGI application: settings, the routes of pages and API, one error handler.

:func:`create_app` builds a Starlette app over one :class:`ArtifactStore` (and
optionally one :class:`FileStore` for the file browser). Pages (``pages.py``)
and API (``api.py``) call the same functions (``service.py``, ``diffs.py``,
``preview.py``, ``storage.py``, ``content.py``); every error of either goes
through :func:`_error`, which answers problem details (``safety.py``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..artifactstore import ArtifactStore
from ..errors import StorageError
from ..filestore import FileStore
from . import api, pages
from .safety import HttpProblem, SafetyMiddleware, problem, status_of
from .service import Browser

__all__ = ["LOOPBACK_HOSTS", "ServeSettings", "create_app"]

#: Host names a loopback-bound server answers for.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class ServeSettings:
    """How the server behaves; the defaults are the safe ones.

    Attributes:
        allow_write: accept the API's writes (store, alias, delete).
        token: the bearer token writes need (required with ``allow_write``).
        signed_downloads: redirect blob downloads to signed URLs where possible.
        signed_ttl: seconds a signed URL stays valid.
        max_body: largest request body accepted, in bytes.
        listing_ttl: seconds the artifact list is served from a snapshot.
        allowed_hosts: ``Host`` names answered (``None``: any).
        title: shown in the page header.
    """

    allow_write: bool = False
    token: str | None = field(default=None, repr=False)
    signed_downloads: bool = False
    signed_ttl: float = 300.0
    max_body: int = 64 * 1024 * 1024
    listing_ttl: float = 5.0
    allowed_hosts: tuple[str, ...] | None = LOOPBACK_HOSTS
    title: str = "storeroom"

    def __post_init__(self) -> None:
        if self.allow_write and not self.token:
            raise ValueError("writes need a token (--token or STOREROOM_TOKEN)")
        if self.signed_ttl <= 0 or self.max_body <= 0 or self.listing_ttl < 0:
            raise ValueError("signed_ttl and max_body must be positive, listing_ttl >= 0")


def create_app(
    artifacts: ArtifactStore,
    files: FileStore | None = None,
    settings: ServeSettings | None = None,
) -> Starlette:
    """The browser and API over ``artifacts`` (and ``files``), as an ASGI app.

    The stores are not closed by the app: whoever made them closes them.
    """
    settings = settings or ServeSettings()
    browser = Browser(artifacts, files, ttl=settings.listing_ttl)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await browser.aclose()

    async def _error(request: Request, exc: Exception) -> Response:
        status, detail = status_of(exc)
        headers = getattr(exc, "headers", None) if status in (401, 413) else None
        return problem(request, status, detail, headers, render=pages.render_problem)

    async def _not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        return problem(request, status, "", None, render=pages.render_problem)

    static = Path(__file__).parent / "static"
    routes = [
        *pages.routes(browser, settings),
        Mount("/api", routes=api.routes(browser, settings)),
        Mount("/static", app=StaticFiles(directory=static), name="static"),
        Route("/favicon.ico", lambda _r: Response(status_code=204)),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            StorageError: _error,
            HttpProblem: _error,
            ValueError: _error,
            Exception: _error,  # the last resort: a bare 500
            404: _not_found,
            405: _not_found,
        },
    )
    app.state.browser = browser
    app.state.settings = settings
    app.add_middleware(
        SafetyMiddleware, max_body=settings.max_body, allowed_hosts=settings.allowed_hosts
    )
    return app
