"""An aiohttp server on 127.0.0.1 in its own thread and event loop, for test helpers.

The fault proxy and the GCS XML gateway are such servers: clients in the test's
event loop, in other threads or in subprocesses reach them at :attr:`endpoint`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import ClientSession, ClientTimeout, web

__all__ = ["ThreadedServer"]

_S = TypeVar("_S", bound="ThreadedServer")


class ThreadedServer:
    """Serves :meth:`handle` for every path and method (use as a context manager).

    Attributes:
        endpoint: ``http://127.0.0.1:<port>`` once started.
        session: a client session for talking to an upstream, in the server's loop.
    """

    #: Headers the upstream session never adds by itself. A proxy must not add a
    #: ``Content-Type`` the client did not sign (Azure's Shared Key signs it).
    skip_auto_headers: tuple[str, ...] = ("User-Agent",)

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None
        self.endpoint = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Answer one request (subclasses override)."""
        raise NotImplementedError

    @property
    def session(self) -> ClientSession:
        assert self._session is not None, "not started"
        return self._session

    def start(self: _S) -> _S:
        """Start listening on a free port of 127.0.0.1; sets :attr:`endpoint`."""
        self._thread.start()
        self._call(self._start)
        return self

    def stop(self) -> None:
        """Stop listening and end the server's thread."""
        self._call(self._stop)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _call(self, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        asyncio.run_coroutine_threadsafe(work(), self._loop).result(timeout=30)

    async def _start(self) -> None:
        self._session = ClientSession(
            auto_decompress=False,
            timeout=ClientTimeout(total=60),
            skip_auto_headers=self.skip_auto_headers,
        )
        app = web.Application(client_max_size=1024**3)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.endpoint = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()
