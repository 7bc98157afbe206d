"""The SQLite index: one file, nothing to start (``sqlite:///path/catalog.db``).

The standard ``sqlite3`` module runs on one worker thread per index (never on
the event loop); the connection is opened on that thread and only used there.
Each write is one ``BEGIN IMMEDIATE`` ... ``COMMIT`` transaction, so it
happened entirely or not at all, and a cancelled caller cannot stop it
halfway. WAL mode lets readers in other processes go on while one writes;
``busy_timeout`` makes concurrent writers wait for each other instead of failing.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from ..errors import BackendUnavailable, ConfigurationError, StorageError
from .index import split_options
from .sql import MIGRATIONS, SQLIndex, Statement

__all__ = ["SQLiteIndex"]

_T = TypeVar("_T")


class SQLiteIndex(SQLIndex):
    """An index in one SQLite file.

    Args:
        path: the database file (created with its folder if missing).
        max_lag, slack: see :class:`~storeroom.catalog.index.Index`.
    """

    source = "sqlite"
    glob = True
    aggregate = "group_concat"

    def __init__(
        self, path: str | Path, *, max_lag: float | None = None, slack: float = 60.0
    ) -> None:
        super().__init__(max_lag=max_lag, slack=slack)
        self.path = Path(path)
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"SQLiteIndex({str(self.path)!r})"

    @classmethod
    def from_url(cls, url: str, **options: Any) -> SQLiteIndex:
        """``sqlite:///relative/x.db``, ``sqlite:////absolute/x.db`` (query: max_lag, slack)."""
        parts = urlsplit(url)
        path = unquote(parts.path)
        if parts.netloc:
            raise ConfigurationError(
                f"sqlite index URLs have no host: sqlite:///relative.db or sqlite:////abs.db, "
                f"not {url!r}"
            )
        if path.startswith("/"):
            path = path[1:]
        if not path:
            raise ConfigurationError(f"no database file in {url!r}")
        return cls(path, **split_options(url, ("max_lag", "slack"), options))

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=60.0
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._migrate(conn)
            self._conn = conn
        return self._conn

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS catalog_schema (version INTEGER NOT NULL)")
            current = conn.execute("SELECT MAX(version) FROM catalog_schema").fetchone()[0] or 0
            for number in range(current + 1, len(MIGRATIONS) + 1):
                for statement in MIGRATIONS[number - 1]:
                    conn.execute(statement.format(text="TEXT"))
                conn.execute("INSERT INTO catalog_schema (version) VALUES (?)", (number,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    async def _call(self, func: Callable[[sqlite3.Connection], _T]) -> _T:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="storeroom-sqlite")

        def job() -> _T:
            return func(self._open())

        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, job)
        except sqlite3.OperationalError as exc:
            raise BackendUnavailable(f"SQLite index {str(self.path)!r}: {exc}") from exc
        except sqlite3.Error as exc:
            raise StorageError(f"SQLite index {str(self.path)!r}: {exc}") from exc

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return await self._call(lambda conn: conn.execute(sql, tuple(params)).fetchall())

    async def _write(self, statements: Sequence[Statement]) -> None:
        def job(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, rows in statements:
                    if rows:
                        conn.executemany(sql, rows)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        await self._call(job)

    async def aclose(self) -> None:
        await self.flush()
        executor, self._executor = self._executor, None
        if executor is None:
            return

        def close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await asyncio.get_running_loop().run_in_executor(executor, close)
        executor.shutdown(wait=False)
