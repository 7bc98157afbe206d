"""Automatic pipelining: every command a loop iteration issues goes out in one write.

:class:`AutoPipeline` holds one Redis connection for all tasks (as ioredis
does). ``call`` queues a command and returns a future at once; a writer task
wakes on the next loop iteration, packs everything queued by then into one
write, and a reader task matches the replies, in order, to the futures. So 64
tasks that each await a ``GET`` cost one round trip, not 64, and each task
still gets its own reply or its own error. Writes never wait for replies: a
batch may go out while the previous one is still being answered.

A Redis error reply (``ResponseError``) fails only its own command. When the
connection breaks (a server restart, an idle connection closed by the server
or a proxy), the commands sent on it and not yet answered are sent once more
on a new connection: a cache sends only commands that may safely run twice
(``GET``, ``SET``, ``MGET``, ``UNLINK``, ``SCAN``). If that fails too, or no reply
comes within ``timeout``, they fail; the next command reconnects.
Errors are redis-py's own here (anything else that breaks the connection is
wrapped in redis-py's ``ConnectionError``): the cache maps them into
storeroom's tree. Should either task ever end, every waiting command fails
and the next call starts both afresh, so no caller can wait forever.

Two costs that redis-py pays per command are paid here per batch instead:
commands are packed by :func:`pack_commands` (the few argument types a cache
sends), and instead of a timer around every reply, one watchdog timer aborts
the connection when commands are outstanding and no reply has come for
``timeout`` seconds.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["AutoPipeline", "pack_commands"]

#: Arguments longer than this are written as they are, not copied into the buffer.
_COPY_LIMIT = 64 * 1024


def pack_commands(commands: Iterable[Sequence[bytes | bytearray | str | int]]) -> list[bytes]:
    """``commands`` in the Redis protocol (RESP), ready for one write.

    ``str`` arguments are sent as UTF-8, ``int`` as decimal digits, bytes as
    they are.
    """
    out: list[bytes] = []
    buffer = bytearray()
    for args in commands:
        buffer += b"*%d\r\n" % len(args)
        for arg in args:
            if isinstance(arg, str):
                data: bytes = arg.encode()
            elif isinstance(arg, (bytes, bytearray)):
                data = bytes(arg)
            elif isinstance(arg, int):
                data = b"%d" % arg
            else:
                raise TypeError(f"cannot send a {type(arg).__name__} to Redis")
            buffer += b"$%d\r\n" % len(data)
            if len(data) > _COPY_LIMIT:
                out.append(bytes(buffer))
                out.append(data)
                buffer = bytearray(b"\r\n")
            else:
                buffer += data
                buffer += b"\r\n"
    out.append(bytes(buffer))
    return out

#: One command: its arguments, the future of its reply, and how often it was sent.
_Command = tuple[Sequence[Any], "asyncio.Future[Any]", int]


class AutoPipeline:
    """One connection from ``pool`` shared by every task, commands batched per iteration.

    Args:
        pool: the redis-py asyncio connection pool the connection is taken from.
        owns_pool: disconnect the whole pool on :meth:`aclose` (else only
            return the connection to it).
        timeout: seconds without a reply, while commands are outstanding,
            before the connection is given up (``None``: wait forever).
    """

    def __init__(
        self, pool: ConnectionPool, *, owns_pool: bool, timeout: float | None
    ) -> None:
        self._pool = pool
        self._owns_pool = owns_pool
        self._timeout = timeout
        self._progress = 0.0  # loop time of the last reply, or of a send after none was due
        self._watchdog: asyncio.TimerHandle | None = None
        self._conn: AbstractConnection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queued: list[_Command] = []
        self._sent: deque[_Command] = deque()
        self._writer: asyncio.Task[None] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._writer_idle: asyncio.Future[None] | None = None
        self._reader_idle: asyncio.Future[None] | None = None
        self._epoch = 0
        self._closed = False
        #: Writes sent so far, each carrying every command queued since the last one.
        self.writes = 0

    def call(self, *args: Any) -> asyncio.Future[Any]:
        """Queue one command; the future holds its reply (or raises its error)."""
        future = self._start().create_future()
        self._queued.append((args, future, 0))
        idle = self._writer_idle
        if idle is not None and not idle.done():
            idle.set_result(None)
        return future

    def call_many(self, commands: Sequence[Sequence[Any]]) -> list[asyncio.Future[Any]]:
        """Queue several commands at once; they go out in the same write."""
        return [self.call(*command) for command in commands]

    def _start(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is not None and self._writer is not None:
            if asyncio.get_running_loop() is not loop:
                raise RuntimeError(
                    "this Redis cache is bound to another event loop; make one per loop"
                )
            return loop
        if self._closed:
            raise RuntimeError("this Redis cache is closed")
        loop = self._loop = asyncio.get_running_loop()
        self._writer = loop.create_task(self._write_loop(), name="storeroom-redis-writer")
        self._reader = loop.create_task(self._read_loop(), name="storeroom-redis-reader")
        self._writer.add_done_callback(self._stopped)
        self._reader.add_done_callback(self._stopped)
        return loop

    def _stopped(self, task: asyncio.Task[None]) -> None:
        """A task ended: fail everything waiting, so that no caller hangs."""
        if self._closed or task not in (self._writer, self._reader):
            return
        cause = task.exception() if not task.cancelled() else asyncio.CancelledError()
        for other in (self._writer, self._reader):
            if other is not None and other is not task:
                other.cancel()
        self._writer = self._reader = None
        self._epoch += 1
        error = _connection_error(cause or RuntimeError("stopped"))
        _fail(self._queued, error)
        self._queued = []
        _fail(self._sent, error)
        self._sent.clear()
        conn = self._conn
        self._conn = None
        if conn is not None and self._loop is not None and not task.cancelled():
            # (A cancelled task means the loop is shutting down: no new task then.)
            self._loop.create_task(self._give_back(conn))

    async def _give_back(self, conn: AbstractConnection) -> None:
        """Return ``conn`` to the pool, disconnected (its state is unknown)."""
        await conn.disconnect(nowait=True)
        await self._pool.release(conn)

    async def _connection(self) -> AbstractConnection:
        """The connection, connected (within ``timeout``, handshake included)."""
        conn = self._conn
        if conn is not None and conn.is_connected:
            return conn
        return await asyncio.wait_for(self._connect(), self._timeout)

    async def _connect(self) -> AbstractConnection:
        if self._conn is None:
            self._conn = await self._pool.get_connection()  # type: ignore[no-untyped-call]
        else:
            await self._conn.connect()  # type: ignore[no-untyped-call]
        return self._conn

    async def _write_loop(self) -> None:
        assert self._loop is not None
        while True:
            if not self._queued:
                self._writer_idle = self._loop.create_future()
                await self._writer_idle
                continue
            batch, self._queued = self._queued, []
            try:
                packed = pack_commands([command[0] for command in batch])
            except TypeError as exc:  # a bug in the caller: its own error, unwrapped
                _fail(batch, exc)
                continue
            try:
                conn = await self._connection()
            except Exception as exc:  # handed to every caller of the batch
                _fail(batch, _connection_error(exc))
                continue
            epoch = self._epoch
            if not self._sent:
                self._progress = self._loop.time()
            self._sent.extend(batch)
            if self._watchdog is None and self._timeout is not None:
                self._watchdog = self._loop.call_later(self._timeout, self._check)
            idle = self._reader_idle
            if idle is not None and not idle.done():
                idle.set_result(None)
            self.writes += 1
            try:
                await conn.send_packed_command(packed, check_health=False)
            except Exception as exc:  # handed to every caller waiting
                await self._abort(exc, epoch)

    async def _read_loop(self) -> None:
        assert self._loop is not None
        sent = self._sent
        while True:
            if not sent:
                self._reader_idle = self._loop.create_future()
                await self._reader_idle
                continue
            conn = self._conn
            epoch = self._epoch
            assert conn is not None
            try:
                reply = await conn.read_response()
            except ResponseError as exc:  # an error reply: this command's alone
                reply = exc
            except Exception as exc:  # handed to every caller waiting
                await self._abort(exc, epoch)
                continue
            if epoch != self._epoch or not sent:
                continue  # a reply from a connection already given up
            self._progress = self._loop.time()
            future = sent.popleft()[1]
            if future.done():  # the caller was cancelled; the reply is dropped
                continue
            if isinstance(reply, ResponseError):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    def _check(self) -> None:
        """The watchdog: give the connection up if replies are due and none came in time."""
        self._watchdog = None
        if not self._sent or self._timeout is None or self._loop is None:
            return
        waited = self._loop.time() - self._progress
        if waited < self._timeout:
            self._watchdog = self._loop.call_later(self._timeout - waited, self._check)
            return
        stalled = RedisTimeoutError(f"no reply from Redis within {self._timeout:g} s")
        self._loop.create_task(self._abort(stalled, self._epoch))

    async def _abort(self, exc: BaseException, epoch: int) -> None:
        """Drop the broken connection; send its unanswered commands again once, or fail them."""
        if epoch != self._epoch:
            return  # already handled for this connection
        self._epoch += 1
        error = _connection_error(exc)
        again: list[_Command] = []
        for args, future, sends in self._sent:
            if future.done():
                continue
            if sends == 0 and isinstance(error, RedisConnectionError) and not self._closed:
                again.append((args, future, 1))
            else:
                future.set_exception(error)
        self._sent.clear()
        if self._conn is not None:
            await self._conn.disconnect(nowait=True)
        if again:
            self._queued[:0] = again  # ahead of anything queued meanwhile
            idle = self._writer_idle
            if idle is not None and not idle.done():
                idle.set_result(None)

    async def aclose(self) -> None:
        """Fail what is still queued, stop both tasks and let the connection go."""
        self._closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        tasks = [task for task in (self._writer, self._reader) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._writer = self._reader = None
        closed = RedisConnectionError("the cache was closed")
        _fail(self._queued, closed)
        self._queued = []
        _fail(self._sent, closed)
        self._sent.clear()
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.disconnect()
            await self._pool.release(conn)
        if self._owns_pool:
            await self._pool.disconnect()


def _connection_error(exc: BaseException) -> BaseException:
    """``exc`` if it is redis-py's or the OS's, else a redis-py ``ConnectionError`` from it."""
    if isinstance(exc, (RedisError, OSError)):
        return exc
    error = RedisConnectionError(f"the connection failed: {type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error


def _fail(batch: Iterable[_Command], exc: BaseException) -> None:
    for _, future, _ in batch:
        if not future.done():
            future.set_exception(exc)
