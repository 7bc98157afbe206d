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
Each command is encoded when it is queued (:func:`pack_command`): one that
cannot be (a ``str`` with a lone surrogate, an argument of another type) is
refused there, alone, with redis-py's ``DataError``, and never reaches the
writer. The writer hands any failure of a batch to that batch's callers and
goes on; replies are matched to commands in the order they were written, and
a cancelled caller's command keeps its place (its reply is read and dropped),
so no reply can reach another caller.
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
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["AutoPipeline", "pack_command", "pack_commands"]

#: Arguments longer than this are written as they are, not copied into the buffer.
_COPY_LIMIT = 64 * 1024


def pack_command(args: Sequence[bytes | bytearray | str | int]) -> bytes | list[bytes]:
    """One command in the Redis protocol (RESP): ``bytes``, or chunks when an argument is large.

    ``str`` arguments are sent as UTF-8, ``int`` as decimal digits, bytes as
    they are.

    Raises:
        DataError: an argument is of another type, or a ``str`` that is not
            valid Unicode (a lone surrogate): only this command is refused.
    """
    buffer = bytearray(b"*%d\r\n" % len(args))
    chunks: list[bytes] | None = None
    for position, arg in enumerate(args):
        if isinstance(arg, str):
            try:
                data: bytes = arg.encode()
            except UnicodeEncodeError as exc:
                shown = arg if len(arg) <= 80 else arg[:77] + "..."
                raise DataError(
                    f"argument {position} of {_name(args)} is not valid Unicode text "
                    f"({exc.reason} at {exc.start}): {shown!r}"
                ) from None
        elif isinstance(arg, (bytes, bytearray)):
            data = bytes(arg)
        elif isinstance(arg, int) and not isinstance(arg, bool):
            data = b"%d" % arg
        else:
            raise DataError(
                f"argument {position} of {_name(args)} is a {type(arg).__name__}; "
                "Redis takes bytes, str or int"
            )
        buffer += b"$%d\r\n" % len(data)
        if len(data) > _COPY_LIMIT:
            chunks = chunks if chunks is not None else []
            chunks.append(bytes(buffer))
            chunks.append(data)
            buffer = bytearray(b"\r\n")
        else:
            buffer += data
            buffer += b"\r\n"
    if chunks is None:
        return bytes(buffer)
    chunks.append(bytes(buffer))
    return chunks


def pack_commands(commands: Iterable[Sequence[bytes | bytearray | str | int]]) -> list[bytes]:
    """``commands`` in the Redis protocol, ready for one write (see :func:`pack_command`)."""
    return _join(pack_command(args) for args in commands)


def _join(packed: Iterable[bytes | list[bytes]]) -> list[bytes]:
    """Packed commands as few chunks as possible: small ones joined, large ones as they are."""
    out: list[bytes] = []
    small: list[bytes] = []
    for command in packed:
        if isinstance(command, bytes):
            small.append(command)
            continue
        if small:
            out.append(b"".join(small))
            small = []
        out.extend(command)
    if small or not out:
        out.append(b"".join(small))
    return out


def _name(args: Sequence[Any]) -> str:
    first = args[0] if args else ""
    return first.decode(errors="replace") if isinstance(first, bytes) else str(first)

#: One command: its packed bytes, the future of its reply, and how often it was sent.
_Command = tuple[bytes | list[bytes], "asyncio.Future[Any]", int]


class AutoPipeline:
    """One connection from ``pool`` shared by every task, commands batched per iteration.

    Args:
        pool: the redis-py asyncio connection pool the connection is taken from.
        owns_pool: disconnect the whole pool on :meth:`aclose` (else only
            return the connection to it).
        timeout: seconds without a reply, while commands are outstanding,
            before the connection is given up (``None``: wait forever).
        also_close: awaited by :meth:`aclose` last (what the pool depends on,
            such as Sentinel's own connections).
    """

    def __init__(
        self,
        pool: ConnectionPool,
        *,
        owns_pool: bool,
        timeout: float | None,
        also_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._pool = pool
        self._also_close = also_close
        self._owns_pool = owns_pool
        self._timeout = timeout
        self._progress = 0.0  # loop time of the last reply, or of a send after none was due
        self._watchdog: asyncio.TimerHandle | None = None
        self._conn: AbstractConnection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queued: list[_Command] = []
        self._in_hand: list[_Command] = []  # the batch the writer is sending
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
        """Queue one command; the future holds its reply (or raises its error).

        Raises:
            DataError: the command cannot be encoded; nothing was queued.
        """
        packed = pack_command(args)
        future = self._start().create_future()
        self._queued.append((packed, future, 0))
        idle = self._writer_idle
        if idle is not None and not idle.done():
            idle.set_result(None)
        return future

    def call_many(self, commands: Sequence[Sequence[Any]]) -> list[asyncio.Future[Any]]:
        """Queue several commands at once; they go out in the same write.

        Raises:
            DataError: one of them cannot be encoded; none was queued.
        """
        packed = [pack_command(command) for command in commands]
        loop = self._start()
        futures = [loop.create_future() for _ in packed]
        self._queued.extend((p, f, 0) for p, f in zip(packed, futures, strict=True))
        idle = self._writer_idle
        if idle is not None and not idle.done():
            idle.set_result(None)
        return futures

    @property
    def pool(self) -> ConnectionPool:
        """The pool the connection comes from."""
        return self._pool

    def groups(self, keys: Sequence[str]) -> list[list[int]]:
        """One server takes any keys in one multi-key command: one group of every position."""
        return [list(range(len(keys)))] if keys else []

    async def primaries(self) -> list[AutoPipeline]:
        """The one primary this pipeline talks to (a cluster has several)."""
        return [self]

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
        _fail(self._in_hand, error)
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
            self._in_hand = batch
            try:
                await self._send(batch)
            except Exception as exc:  # never strand a batch: its callers get the error
                _fail(batch, _connection_error(exc))
            finally:
                self._in_hand = []

    async def _send(self, batch: list[_Command]) -> None:
        """Write ``batch`` on the connection; from then on the reader answers it."""
        assert self._loop is not None
        chunks = _join(command[0] for command in batch)
        try:
            conn = await self._connection()
        except Exception as exc:  # handed to every caller of the batch
            _fail(batch, _connection_error(exc))
            return
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
            await conn.send_packed_command(chunks, check_health=False)
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
            with contextlib.suppress(Exception):  # it is given up either way
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
        _fail(self._in_hand, closed)
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
        if self._also_close is not None:
            await self._also_close()


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
