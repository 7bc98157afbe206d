"""A fault-injecting HTTP proxy for the retry tests (aiohttp, its own thread and loop).

Put it between a client and an emulator: the client's endpoint becomes
``proxy.endpoint``. Each request is forwarded unchanged, except that with
probability ``rate`` one of the ``kinds`` of fault is injected instead:

- ``"slowdown"``: answer ``503 SlowDown`` (S3's throttling reply) without forwarding;
- ``"reset"``: forward the request, then drop the connection in the middle of
  the response body (before the headers if the body is empty), as a reset
  connection does; the upstream has applied the request;
- ``"stall"``: answer nothing for ``stall_seconds`` (longer than the client's
  timeout), then drop the connection.

Instead of ``rate``, a test may pass ``script``: an async function called with
each request that returns the fault to inject (or ``None``) and may wait
first, so a test orders requests exactly (a reply lost, then another
client's write, then the retry).

The proxy only listens on 127.0.0.1 and only forwards to the given upstream.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

from .threaded import ThreadedServer

__all__ = ["FAULT_KINDS", "FaultProxy", "Script"]

#: Chooses the fault for one request (``None``: forward it); may wait first.
Script = Callable[[web.Request], Awaitable[str | None]]

FAULT_KINDS = ("slowdown", "reset", "stall")
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length"}
)
_SLOWDOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


class FaultProxy(ThreadedServer):
    """A reverse proxy to ``upstream`` that injects faults (use as a context manager).

    Args:
        upstream: the emulator's base URL (``http://127.0.0.1:port``).
        rate: probability that a request gets a fault (0 to 1); may be changed later.
        kinds: the faults to choose from, uniformly.
        stall_seconds: how long a stalled request hangs before its connection drops.
        seed: seed of the fault choices, for a reproducible run.
        script: chooses each request's fault instead of ``rate`` and ``kinds``.

    Attributes:
        injected: how many faults of each kind were injected.
        requests: how many requests arrived (faulted or not).
    """

    skip_auto_headers = ("User-Agent", "Content-Type")

    def __init__(
        self,
        upstream: str,
        *,
        rate: float = 0.2,
        kinds: Sequence[str] = FAULT_KINDS,
        stall_seconds: float = 2.0,
        seed: int | None = None,
        script: Script | None = None,
    ) -> None:
        unknown = set(kinds) - set(FAULT_KINDS)
        if unknown or not kinds:
            raise ValueError(f"fault kinds must be some of {FAULT_KINDS}, not {list(kinds)}")
        super().__init__()
        self.upstream = upstream.rstrip("/")
        self.rate = rate
        self.kinds = tuple(kinds)
        self.stall_seconds = stall_seconds
        self.injected: Counter[str] = Counter()
        self.requests = 0
        self._random = random.Random(seed)
        self.script = script

    # -- requests -----------------------------------------------------------------

    def _choose_fault(self) -> str | None:
        self.requests += 1
        if self._random.random() >= self.rate:
            return None
        kind = self._random.choice(self.kinds)
        self.injected[kind] += 1
        return kind

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.script is not None:
            self.requests += 1
            fault = await self.script(request)
            if fault is not None:
                self.injected[fault] += 1
        else:
            fault = self._choose_fault()
        body = await request.read()
        if fault == "slowdown":
            return web.Response(status=503, body=_SLOWDOWN, content_type="application/xml")
        if fault == "stall":
            await asyncio.sleep(self.stall_seconds)
            return self._drop(request)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        async with self.session.request(
            request.method,
            self.upstream + request.rel_url.raw_path_qs,
            headers=headers,
            data=body if body else None,
            allow_redirects=False,
        ) as upstream:
            payload = await upstream.read()
            reply_headers = {
                k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP
            }
            status = upstream.status
            if request.method == "HEAD" and "Content-Length" in upstream.headers:
                # A HEAD answer has no body to measure: pass the object's length on.
                reply_headers["Content-Length"] = upstream.headers["Content-Length"]
        if fault == "reset":
            if len(payload) < 2:
                return self._drop(request)
            reply = web.StreamResponse(status=status, headers=reply_headers)
            reply.content_length = len(payload)
            await reply.prepare(request)
            await reply.write(payload[: len(payload) // 2])
            return self._drop(request)
        return web.Response(status=status, headers=reply_headers, body=payload)

    @staticmethod
    def _drop(request: web.Request) -> web.StreamResponse:
        """Drop the client's connection now; aiohttp then sends nothing more."""
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError
