"""Invalidation pushes from Redis (RESP3 client tracking), for a near cache.

A :class:`Tracker` keeps one dedicated connection to every primary that holds
the namespace (one for a server or a Sentinel-managed primary, one per
primary of a cluster), says ``HELLO 3`` (with ``AUTH`` when the URL has
credentials) and ``CLIENT TRACKING ON BCAST PREFIX <namespace prefix>``. From
then on Redis pushes ``invalidate [keys]`` for every change of a key under
the prefix, whoever made it, and ``invalidate`` with no keys (null) when a
whole database is flushed.

How it keeps the near cache correct:

- :attr:`Tracker.live` is ``True`` only between a completed handshake on
  every primary and the first sign of trouble. The near cache serves
  nothing while it is ``False``.
- Any trouble (a connection closed or failing, a heartbeat ``PING`` not
  answered within ``timeout``, a reply that is not RESP3, the set of
  primaries changed) calls ``on_lost`` synchronously *before* anything else
  runs, so the near copy is flushed before a read can be served from it.
  Then the tracker reconnects, with a growing pause, until :meth:`aclose`.
- Pushes are handed over in the order they arrive, in the listener's task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .pipeline import pack_command

__all__ = ["Endpoint", "Tracker"]

log = logging.getLogger("storeroom.caches.tracking")

_MAX_PAUSE = 2.0


@dataclass(frozen=True)
class Endpoint:
    """Where one tracking connection goes (the secrets stay out of ``repr``)."""

    host: str | None = None
    port: int = 6379
    path: str | None = None
    tls: ssl.SSLContext | None = field(default=None, compare=False)
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)


class _Push(list[Any]):
    """A RESP3 push (``>``), told apart from a reply."""


class _ProtocolError(ConnectionError):
    pass


async def read_reply(reader: asyncio.StreamReader) -> Any:
    """One RESP3 value from ``reader`` (an error reply is returned as an exception)."""
    line = await reader.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("the connection was closed")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode(errors="replace")
    if kind == b"-":
        return _ProtocolError(rest.decode(errors="replace"))
    if kind in (b":", b"("):
        return int(rest)
    if kind == b",":
        return float(rest)
    if kind == b"#":
        return rest == b"t"
    if kind == b"_":
        return None
    if kind in (b"$", b"=", b"!"):
        size = int(rest)
        if size < 0:
            return None
        data = (await reader.readexactly(size + 2))[:-2]
        return _ProtocolError(data.decode(errors="replace")) if kind == b"!" else data
    if kind in (b"*", b"~", b">"):
        size = int(rest)
        if size < 0:
            return None
        items = [await read_reply(reader) for _ in range(size)]
        return _Push(items) if kind == b">" else items
    if kind in (b"%", b"|"):
        pairs = {}
        for _ in range(int(rest)):
            name = await read_reply(reader)
            pairs[name if not isinstance(name, list) else repr(name)] = await read_reply(reader)
        return await read_reply(reader) if kind == b"|" else pairs
    raise _ProtocolError(f"not a RESP3 reply: {line[:40]!r}")


class Tracker:
    """Listens for invalidations of ``prefix`` on every primary ``resolve`` names.

    Args:
        resolve: the endpoints to track now (asked again at each reconnection
            and heartbeat: a changed set counts as a loss).
        prefix: the key prefix to track (the cache's namespace prefix).
        on_keys: called with the Redis keys invalidated.
        on_lost: called when nothing can be trusted any more (a loss, a
            flush of the database); must clear the near cache at once.
        timeout: seconds for a connection, the handshake and a heartbeat reply.
        heartbeat: seconds between heartbeats.
    """

    def __init__(
        self,
        resolve: Callable[[], Awaitable[Sequence[Endpoint]]],
        prefix: bytes,
        *,
        on_keys: Callable[[list[bytes]], None],
        on_lost: Callable[[], None],
        timeout: float,
        heartbeat: float = 1.0,
    ) -> None:
        self._resolve = resolve
        self._prefix = prefix
        self._on_keys = on_keys
        self._on_lost = on_lost
        self._timeout = timeout
        self._heartbeat = heartbeat
        self.live = False
        #: The client name of the tracking connections (``CLIENT LIST`` shows it).
        self.name = f"storeroom-tracking-{uuid.uuid4().hex[:12]}"
        #: Completed handshakes so far (a test waits for the next one).
        self.sessions = 0
        self._task: asyncio.Task[None] | None = None
        self._up: asyncio.Event | None = None
        self._closing = False

    def start(self) -> None:
        """Start listening (in the background) if not already."""
        if self._task is None or self._task.done():
            self._up = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="storeroom-redis-tracking"
            )

    async def wait_live(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for tracking to be live; whether it is."""
        self.start()
        assert self._up is not None
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._up.wait(), timeout)
        return self.live

    def _lose(self, why: object) -> None:
        was = self.live
        self.live = False
        if self._up is not None:
            self._up.clear()
        self._on_lost()  # first: nothing is served from the near copy after this
        if was and not self._closing:
            log.warning("Redis invalidations lost (%s): near cache flushed", why)

    async def _run(self) -> None:
        pause = 0.05
        while not self._closing:
            try:
                await self._session()
            except asyncio.CancelledError:
                self._closing = True
                self._lose("closed")
                raise
            except Exception as exc:  # any trouble: flush, then reconnect
                self._lose(exc)
            await asyncio.sleep(pause)
            pause = min(pause * 2, _MAX_PAUSE)

    async def _session(self) -> None:
        endpoints = list(await asyncio.wait_for(self._resolve(), self._timeout))
        streams = await asyncio.wait_for(
            asyncio.gather(*(self._open(endpoint) for endpoint in endpoints)), self._timeout
        )
        pending: list[deque[asyncio.Future[Any]]] = [deque() for _ in streams]
        tasks = [
            asyncio.ensure_future(self._listen(reader, waiting))
            for (reader, _), waiting in zip(streams, pending, strict=True)
        ]
        try:
            self.live = True
            self.sessions += 1
            assert self._up is not None
            self._up.set()
            tasks.append(asyncio.ensure_future(self._beat(endpoints, streams, pending)))
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            raise ConnectionError("a tracking connection ended")
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for _, writer in streams:
                writer.close()

    async def _open(
        self, endpoint: Endpoint
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if endpoint.path is not None:
            reader, writer = await asyncio.open_unix_connection(endpoint.path)
        else:
            reader, writer = await asyncio.open_connection(
                endpoint.host, endpoint.port, ssl=endpoint.tls
            )
        hello: list[Any] = ["HELLO", "3"]
        if endpoint.password is not None:
            hello += ["AUTH", endpoint.username or "default", endpoint.password]
        hello += ["SETNAME", self.name]
        tracking = ["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", self._prefix]
        writer.write(b"".join(_packed(command) for command in (hello, tracking)))
        for _ in range(2):
            reply = await read_reply(reader)
            if isinstance(reply, Exception):
                writer.close()
                raise reply
        return reader, writer

    async def _listen(
        self, reader: asyncio.StreamReader, waiting: deque[asyncio.Future[Any]]
    ) -> None:
        while True:
            reply = await read_reply(reader)
            if isinstance(reply, _Push):
                if reply and reply[0] in (b"invalidate", "invalidate"):
                    keys = reply[1] if len(reply) > 1 else None
                    if keys is None:  # a flush of the database: drop everything
                        self._on_lost()
                    else:
                        self._on_keys(list(keys))
                continue
            if waiting:
                future = waiting.popleft()
                if not future.done():
                    future.set_result(reply)

    async def _beat(
        self,
        endpoints: list[Endpoint],
        streams: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]],
        pending: list[deque[asyncio.Future[Any]]],
    ) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._heartbeat)
            replies = []
            for (_, writer), waiting in zip(streams, pending, strict=True):
                future = loop.create_future()
                waiting.append(future)
                writer.write(_packed(["PING"]))
                replies.append(future)
            await asyncio.wait_for(asyncio.gather(*replies), self._timeout)
            now = list(await asyncio.wait_for(self._resolve(), self._timeout))
            if now != endpoints:
                raise ConnectionError("the primaries changed")

    async def aclose(self) -> None:
        """Stop listening (the near cache is flushed)."""
        self._closing = True  # the loop ends even if a cancellation is swallowed
        task, self._task = self._task, None
        if task is None:
            return
        # ``asyncio.wait_for`` before 3.12 can swallow a cancellation that meets
        # its inner result; cancel again until the task has really ended.
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=0.1)
        if not task.cancelled():
            task.exception()  # retrieved: the listener's end is not the caller's error


def _packed(command: list[Any]) -> bytes:
    packed = pack_command(command)
    return packed if isinstance(packed, bytes) else b"".join(packed)
