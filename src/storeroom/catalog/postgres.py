"""The PostgreSQL index, for many machines sharing one store (``postgresql://...``).

psycopg 3's async connection, one per index and event loop, used by one task
at a time (an ``asyncio.Lock``). Each write is one transaction; a query or
write that is cancelled or fails on the wire drops the connection (the next
call opens a fresh one), so a half-read result never leaks into the next call.
Text columns are ``COLLATE "C"``: comparisons and ordering by code point, as
in SQLite and Python. Migrations run under a transaction-scoped advisory lock,
so processes starting together apply each one once. The URL's password never
appears in a repr or an error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import BackendUnavailable, ConfigurationError, StorageError
from ..options import mask
from .index import split_options
from .sql import MIGRATIONS, SQLIndex, Statement

__all__ = ["PostgresIndex"]

_TEXT = 'TEXT COLLATE "C"'
_LOCK = 0x5702E0_CA7A  # the advisory lock id of catalog migrations
_CATALOG_OPTIONS = ("max_lag", "slack")


class PostgresIndex(SQLIndex):
    """An index in a PostgreSQL database.

    Args:
        dsn: a libpq connection URL (``postgresql://user:password@host:5432/db``).
        max_lag, slack: see :class:`~storeroom.catalog.index.Index`.
    """

    source = "postgresql"

    def __init__(self, dsn: str, *, max_lag: float | None = None, slack: float = 60.0) -> None:
        super().__init__(max_lag=max_lag, slack=slack)
        self._dsn = dsn
        self._conn: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None

    def __repr__(self) -> str:
        return f"PostgresIndex({mask(self._dsn)!r})"

    @classmethod
    def from_url(cls, url: str, **options: Any) -> PostgresIndex:
        """``postgresql://user@host:5432/db?max_lag=300``; other query parameters go to libpq."""
        parts = urlsplit(url)
        query = parse_qsl(parts.query)
        ours = {k: v for k, v in query if k in _CATALOG_OPTIONS}
        theirs = [(k, v) for k, v in query if k not in _CATALOG_OPTIONS]
        dsn = urlunsplit(parts._replace(scheme="postgresql", query=urlencode(theirs)))
        settings = split_options("x://", _CATALOG_OPTIONS, {**ours, **options})
        return cls(dsn, **settings)

    async def _connection(self) -> Any:
        try:
            import psycopg
        except ImportError as exc:  # pragma: no cover - installed with the "index" extra
            raise ConfigurationError(
                "the PostgreSQL index needs psycopg: pip install 'storeroom[index]'"
            ) from exc
        if self._conn is None or self._conn.closed:
            conn = await psycopg.AsyncConnection.connect(self._dsn, autocommit=True)
            try:
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
                    await conn.execute(
                        "CREATE TABLE IF NOT EXISTS catalog_schema (version INTEGER NOT NULL)"
                    )
                    row = await (await conn.execute(
                        "SELECT MAX(version) FROM catalog_schema"
                    )).fetchone()
                    current = (row[0] if row else None) or 0
                    for number in range(current + 1, len(MIGRATIONS) + 1):
                        for statement in MIGRATIONS[number - 1]:
                            await conn.execute(statement.format(text=_TEXT))
                        await conn.execute(
                            "INSERT INTO catalog_schema (version) VALUES (%s)", (number,)
                        )
            except BaseException:
                await conn.close()
                raise
            self._conn = conn
        return self._conn

    async def _run(self, sql_statements: Sequence[Statement], fetch: bool) -> list[Any]:
        import psycopg

        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:  # a connection belongs to its loop
            self._drop()
            self._loop, self._lock = loop, asyncio.Lock()
        async with self._lock:
            try:
                conn = await self._connection()
                if fetch:
                    sql, rows = sql_statements[0]
                    cursor = await conn.execute(sql.replace("?", "%s"), rows[0])
                    return list(await cursor.fetchall())
                async with conn.transaction(), conn.cursor() as cursor:
                    for sql, rows in sql_statements:
                        if rows:
                            await cursor.executemany(sql.replace("?", "%s"), rows)
                return []
            except psycopg.OperationalError as exc:
                self._drop()
                raise BackendUnavailable(f"PostgreSQL index {mask(self._dsn)!r}: {exc}") from None
            except psycopg.Error as exc:
                raise StorageError(f"PostgreSQL index {mask(self._dsn)!r}: {exc}") from None
            except BaseException:  # cancelled mid-statement: the connection's state is unknown
                self._drop()
                raise

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            conn.pgconn.finish()  # no round trip: the connection may be mid-statement

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return await self._run([(sql, [tuple(params)])], fetch=True)

    async def _write(self, statements: Sequence[Statement]) -> None:
        await self._run(statements, fetch=False)

    async def aclose(self) -> None:
        await self.flush()
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            if self._loop is asyncio.get_running_loop():
                await conn.close()
            else:
                conn.pgconn.finish()
