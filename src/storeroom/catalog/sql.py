"""The SQL indexes' shared half: schema and migrations, the tree -> SQL translation, rows.

SQLite and PostgreSQL differ only in how a statement reaches the database
(``_fetch`` / ``_write`` in ``sqlite.py`` and ``postgres.py``), the text type
(PostgreSQL's columns are ``COLLATE "C"`` so text compares by code point, as
SQLite's BINARY and Python do), the placeholder (``?`` here, turned into
``%s`` for psycopg), and LIKE (SQLite's LIKE ignores ASCII case, so it gets a
GLOB pattern translated from the LIKE one; PostgreSQL runs LIKE itself).

The translation (:class:`Compiler`) walks the typed tree from ``query.py``
and emits SQL whose shape depends only on the tree's node types and field
names (all from closed sets); every value, metadata key and pattern goes into
the parameter list. Multi-valued fields (alias, input, metadata) become
``(v.name, v.number) IN (SELECT ...)`` so no row produces NULL logic.

Migrations are numbered lists of statements applied in one transaction under
a lock (SQLite ``BEGIN IMMEDIATE``, PostgreSQL an advisory lock); the applied
number is kept in ``catalog_schema``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from ..artifactstore.layout import version_id
from ..artifactstore.records import ArtifactVersion, Head
from .index import ArtifactState, Index
from .query import And, Compare, Field, InList, Latest, Node, Not, Or
from .rows import Entry, Order, created_us, meta_kind

__all__ = ["MIGRATIONS", "Compiler", "SQLIndex", "Statement", "glob_of_like"]

#: (sql, rows): one statement run once per row of parameters.
Statement = tuple[str, list[tuple[Any, ...]]]
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
#: Rows counted at most per candidate when SQLite's driver is chosen.
_COUNT_CAP = 20_000

#: Migration n (1-based) is MIGRATIONS[n - 1]; ``{text}`` is the dialect's text type.
MIGRATIONS: list[list[str]] = [
    [
        "CREATE TABLE catalog_state (key {text} PRIMARY KEY, value {text} NOT NULL)",
        "CREATE TABLE catalog_artifacts (name {text} PRIMARY KEY, created BIGINT NOT NULL,"
        " floor BIGINT NOT NULL)",
        "CREATE TABLE catalog_deleted (name {text} NOT NULL, number BIGINT NOT NULL,"
        " PRIMARY KEY (name, number))",
        "CREATE TABLE catalog_versions (name {text} NOT NULL, number BIGINT NOT NULL,"
        " sha256 {text} NOT NULL, size BIGINT NOT NULL, content_type {text} NOT NULL,"
        " is_text INTEGER NOT NULL, created BIGINT NOT NULL, metadata {text} NOT NULL,"
        " inputs {text} NOT NULL, PRIMARY KEY (name, number))",
        "CREATE INDEX catalog_versions_created ON catalog_versions (created)",
        "CREATE INDEX catalog_versions_size ON catalog_versions (size)",
        "CREATE INDEX catalog_versions_sha256 ON catalog_versions (sha256)",
        "CREATE TABLE catalog_aliases (name {text} NOT NULL, alias {text} NOT NULL,"
        " number BIGINT NOT NULL, PRIMARY KEY (name, alias))",
        "CREATE INDEX catalog_aliases_alias ON catalog_aliases (alias)",
        "CREATE TABLE catalog_inputs (name {text} NOT NULL, number BIGINT NOT NULL,"
        " input_name {text} NOT NULL, input_number BIGINT NOT NULL,"
        " PRIMARY KEY (name, number, input_name, input_number))",
        "CREATE INDEX catalog_inputs_input ON catalog_inputs (input_name, input_number)",
        "CREATE TABLE catalog_meta (name {text} NOT NULL, number BIGINT NOT NULL,"
        " key {text} NOT NULL, kind {text} NOT NULL, s {text}, n DOUBLE PRECISION,"
        " PRIMARY KEY (name, number, key))",
        "CREATE INDEX catalog_meta_s ON catalog_meta (key, kind, s)",
        "CREATE INDEX catalog_meta_n ON catalog_meta (key, kind, n)",
    ],
    [  # 2: the change message a version was stored with (vibex's commit message)
        "ALTER TABLE catalog_versions ADD COLUMN message {text}",
    ],
]

_COLUMNS = {
    "name": "v.name",
    "version": "v.number",
    "content_type": "v.content_type",
    "size": "v.size",
    "sha256": "v.sha256",
    "created": "v.created",
}
_LATEST = "(SELECT MAX(l.number) FROM catalog_versions l WHERE l.name = v.name)"
#: ``{agg}``: the dialect's string aggregate (aliases are [A-Za-z0-9._-], so ',' separates).
_SELECT = (
    "SELECT v.name, v.number, v.sha256, v.size, v.content_type, v.is_text, v.created,"
    f" v.metadata, v.inputs, CASE WHEN v.number = {_LATEST} THEN 1 ELSE 0 END,"
    " (SELECT {agg}(a.alias, ',') FROM catalog_aliases a"
    " WHERE a.name = v.name AND a.number = v.number)"
    " FROM catalog_versions v"
)


def glob_of_like(pattern: str) -> str:
    """The GLOB pattern matching exactly what the LIKE pattern matches (case-sensitive)."""
    out: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            char = next(chars, "\\")
            out.append(f"[{char}]" if char in "*?[" else char)
        elif char == "%":
            out.append("*")
        elif char == "_":
            out.append("?")
        else:
            out.append(f"[{char}]" if char in "*?[" else char)
    return "".join(out)


def like_prefix(prefix: str) -> str:
    """A LIKE pattern for names starting with ``prefix``."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _selective(node: Node) -> bool:
    """An equality on a field kept in its own table (an index lookup can drive the query)."""
    if isinstance(node, (Compare, InList)) and (node.field.key is not None or node.field.name in (
        "alias", "input")):
        return isinstance(node, InList) or node.op == "="
    return False


class Compiler:
    """Turns a tree into a WHERE clause and its parameters (see the module docstring)."""

    def __init__(self, glob: bool) -> None:
        self.glob = glob
        self.params: list[Any] = []
        self.probe = False  # membership as a correlated EXISTS (a probe per row)
        self.count = False  # membership as a count of its rows (choosing a driver)

    def where(self, node: Node, driver: int | None = None) -> str:
        """The WHERE clause of ``node``.

        SQLite materializes every ``IN (SELECT ...)`` it does not drive the
        query from, so in a conjunction one equality on metadata, alias or
        input is left as ``IN`` (the driver: an index lookup; ``driver`` is its
        position, else the first) and every other membership becomes a probe
        per candidate row. PostgreSQL plans both forms as semi-joins.
        """
        if not (self.glob and isinstance(node, And)):
            return self.node(node)
        if driver is None:
            driver = next((i for i, item in enumerate(node.items) if _selective(item)), None)
        if driver is None:
            return self.node(node)
        parts = []
        for i, item in enumerate(node.items):
            self.probe = i != driver
            parts.append(self.node(item))
        self.probe = False
        return "(" + " AND ".join(parts) + ")"

    def like(self, column: str, pattern: str) -> str:
        if self.glob:
            self.params.append(glob_of_like(pattern))
            return f"{column} GLOB ?"
        self.params.append(pattern)
        return f"{column} LIKE ? ESCAPE '\\'"

    def node(self, node: Node) -> str:
        if isinstance(node, And):
            return "(" + " AND ".join(self.node(item) for item in node.items) + ")"
        if isinstance(node, Or):
            return "(" + " OR ".join(self.node(item) for item in node.items) + ")"
        if isinstance(node, Not):
            return f"(NOT {self.node(node.item)})"
        if isinstance(node, Latest):
            return f"(v.number {'=' if node.value else '<>'} {_LATEST})"
        if isinstance(node, InList):
            return "(" + " OR ".join(self.compare(node.field, "=", v) for v in node.values) + ")"
        if isinstance(node, Compare):
            return self.compare(node.field, node.op, node.value)
        return self.like_field(node.field, node.pattern)

    def _member(self, table: str, condition: str) -> str:
        if self.count:
            return f"(SELECT COUNT(*) FROM (SELECT 1 FROM {table} x WHERE {condition} LIMIT ?) c)"
        if self.probe:
            return (f"(EXISTS (SELECT 1 FROM {table} x WHERE x.name = v.name"
                    f" AND x.number = v.number AND {condition}))")
        return f"((v.name, v.number) IN (SELECT x.name, x.number FROM {table} x WHERE {condition}))"

    def compare(self, field: Field, op: str, value: Any) -> str:
        if field.key is not None:
            kind, scalar = meta_kind(value)
            self.params.extend([field.key, kind])
            condition = "x.key = ? AND x.kind = ?"
            if kind == "s":
                condition += f" AND x.s {op} ?"
                self.params.append(scalar)
            elif kind in ("n", "b"):
                condition += f" AND x.n {op} ?"
                self.params.append(scalar)
            return self._member("catalog_meta", condition)
        if field.name == "alias":
            self.params.append(value)
            return self._member("catalog_aliases", "x.alias = ?")
        if field.name == "input":
            name, number = value
            self.params.append(name)
            if number is None:
                return self._member("catalog_inputs", "x.input_name = ?")
            self.params.append(number)
            return self._member("catalog_inputs", "x.input_name = ? AND x.input_number = ?")
        self.params.append(value)
        return f"({_COLUMNS[field.name]} {op} ?)"

    def like_field(self, field: Field, pattern: str) -> str:
        if field.key is not None:
            self.params.append(field.key)
            return self._member("catalog_meta", "x.key = ? AND x.kind = 's' AND " + self.like(
                "x.s", pattern))
        if field.name == "alias":
            return self._member("catalog_aliases", self.like("x.alias", pattern))
        return f"({self.like(_COLUMNS[field.name], pattern)})"

    def after(self, order: Order, last: Sequence[Any]) -> str:
        """Rows strictly after the sort key ``last`` (keyset paging)."""
        ors = []
        for i, (name, desc) in enumerate(order):
            parts = []
            for (prior, _), value in zip(order[:i], last, strict=False):
                parts.append(f"{_COLUMNS[prior]} = ?")
                self.params.append(value)
            parts.append(f"{_COLUMNS[name]} {'<' if desc else '>'} ?")
            self.params.append(last[i])
            ors.append("(" + " AND ".join(parts) + ")")
        return "(" + " OR ".join(ors) + ")"


def _entry(row: Sequence[Any]) -> Entry:
    return Entry(
        name=str(row[0]),
        number=int(row[1]),
        sha256=str(row[2]),
        size=int(row[3]),
        content_type=str(row[4]),
        text=bool(row[5]),
        created_us=int(row[6]),
        metadata=json.loads(row[7]),
        aliases=tuple(sorted(str(row[10]).split(","))) if row[10] else (),
        inputs=tuple((str(n), int(v)) for n, v in json.loads(row[8])),
        latest=bool(row[9]),
    )


def _version_rows(version: ArtifactVersion) -> list[Statement]:
    """Insert ``version`` unless it is at or below its floor or deleted (late notifications)."""
    key = (version.name, version.number)
    guard = (
        " WHERE NOT EXISTS (SELECT 1 FROM catalog_deleted d WHERE d.name = ? AND d.number = ?)"
        " AND NOT EXISTS (SELECT 1 FROM catalog_artifacts a WHERE a.name = ? AND a.floor >= ?)"
    )
    exists = " WHERE EXISTS (SELECT 1 FROM catalog_versions w WHERE w.name = ? AND w.number = ?)"
    metas = []
    for meta_key, value in version.metadata.items():
        kind, scalar = meta_kind(value)
        metas.append((
            *key, meta_key, kind,
            scalar if kind == "s" else None,
            scalar if kind in ("n", "b") else None,
            *key,
        ))
    inputs = getattr(version, "inputs", ())
    return [
        (
            "INSERT INTO catalog_artifacts (name, created, floor) VALUES (?, ?, 0)"
            " ON CONFLICT (name) DO NOTHING",
            [(version.name, created_us(version.created))],
        ),
        (
            "INSERT INTO catalog_versions (name, number, sha256, size, content_type, is_text,"
            " created, metadata, inputs, message) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?" + guard
            + " ON CONFLICT (name, number) DO NOTHING",
            [(
                *key, version.sha256, version.size, version.content_type,
                int(version.encoding is not None), created_us(version.created),
                json.dumps(dict(version.metadata), sort_keys=True),
                json.dumps([list(i) for i in inputs]), getattr(version, "message", None),
                *key, *key,
            )],
        ),
        (
            "INSERT INTO catalog_meta (name, number, key, kind, s, n)"
            " SELECT ?, ?, ?, ?, ?, ?" + exists + " ON CONFLICT (name, number, key) DO NOTHING",
            metas,
        ),
        (
            "INSERT INTO catalog_inputs (name, number, input_name, input_number)"
            " SELECT ?, ?, ?, ?" + exists + " ON CONFLICT DO NOTHING",
            [(*key, n, v, *key) for n, v in inputs],
        ),
    ]


def _head_rows(head: Head) -> list[Statement]:
    """Apply a head: floor, deleted numbers (remembered), aliases replaced."""
    name = head.name
    created = created_us(head.created) if head.created else 0  # 0: keep the one recorded
    gone = (
        "name = ? AND (number <= ? OR number IN"
        " (SELECT d.number FROM catalog_deleted d WHERE d.name = ?))"
    )
    statements: list[Statement] = [
        (
            "INSERT INTO catalog_artifacts (name, created, floor) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET floor = CASE WHEN excluded.floor >"
            " catalog_artifacts.floor THEN excluded.floor ELSE catalog_artifacts.floor END,"
            " created = CASE WHEN excluded.created > 0 THEN excluded.created"
            " ELSE catalog_artifacts.created END",
            [(name, created, head.floor)],
        ),
        (
            "INSERT INTO catalog_deleted (name, number) VALUES (?, ?) ON CONFLICT DO NOTHING",
            [(name, n) for n in sorted(head.deleted)],
        ),
    ]
    for table in ("catalog_versions", "catalog_meta", "catalog_inputs", "catalog_aliases"):
        statements.append((f"DELETE FROM {table} WHERE {gone}", [(name, head.floor, name)]))
    statements += [
        ("DELETE FROM catalog_aliases WHERE name = ?", [(name,)]),
        (
            "INSERT INTO catalog_aliases (name, alias, number) VALUES (?, ?, ?)",
            [(name, alias, n) for alias, n in sorted(head.aliases.items())],
        ),
        ("DELETE FROM catalog_deleted WHERE name = ? AND number <= ?", [(name, head.floor)]),
    ]
    return statements


def _grouped(statements: Sequence[Statement]) -> list[Statement]:
    """One executemany per distinct statement, in order of first appearance.

    Every row names its artifact, and the rows of one artifact keep their
    order, so this is safe when each artifact brings at most one head (then
    its head rows precede or follow its version rows as a block, and the
    guards make either order give the same rows).
    """
    grouped: dict[str, list[tuple[Any, ...]]] = {}
    for sql, rows in statements:
        grouped.setdefault(sql, []).extend(rows)
    return list(grouped.items())


class SQLIndex(Index):
    """An index in SQL tables; subclasses say how statements reach their database."""

    #: SQLite: translate LIKE into GLOB (its LIKE ignores ASCII case).
    glob = False
    #: The string aggregate function (one query returns each version's aliases).
    aggregate = "string_agg"

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Rows of one query."""
        raise NotImplementedError  # pragma: no cover - every subclass overrides it

    async def _write(self, statements: Sequence[Statement]) -> None:
        """Run the statements in one transaction (a statement with no rows is skipped)."""
        raise NotImplementedError  # pragma: no cover - every subclass overrides it

    async def find(
        self, tree: Node | None, order: Order, limit: int, after: Sequence[Any] | None
    ) -> list[Entry]:
        compiler = Compiler(self.glob)
        driver = await self._driver(tree) if self.glob and isinstance(tree, And) else None
        where = [compiler.where(tree, driver)] if tree is not None else []
        if after is not None:
            where.append(compiler.after(order, after))
        sql = _SELECT.format(agg=self.aggregate)
        sql += " WHERE " + " AND ".join(where) if where else ""
        sql += " ORDER BY " + ", ".join(
            f"{_COLUMNS[name]} {'DESC' if desc else 'ASC'}" for name, desc in order
        )
        rows = await self._fetch(sql + " LIMIT ?", [*compiler.params, limit])
        return [_entry(row) for row in rows]

    async def _driver(self, tree: And) -> int | None:
        """The position of the conjunction's equality that matches fewest rows (SQLite).

        Each candidate's rows are counted up to :data:`_COUNT_CAP` through its
        own index (a fraction of a millisecond); with one candidate, no count.
        """
        candidates = [i for i, item in enumerate(tree.items)
                      if isinstance(item, Compare) and _selective(item)]
        if len(candidates) < 2:
            return None
        counts = []
        for i in candidates:
            counter = Compiler(self.glob)
            counter.count = True
            sql = "SELECT " + counter.node(tree.items[i])
            rows = await self._fetch(sql, [*counter.params, _COUNT_CAP])
            counts.append((int(rows[0][0]), i))
        return min(counts)[1]

    async def listing(self, prefix: str) -> list[dict[str, Any]]:
        compiler = Compiler(self.glob)
        condition = compiler.like("a.name", like_prefix(prefix)) if prefix else "1 = 1"
        rows = await self._fetch(
            "SELECT a.name, a.created, v.number, v.size, v.content_type, v.sha256, v.is_text,"
            " v.created, v.metadata, v.message, (SELECT COUNT(*) FROM catalog_versions c"
            f" WHERE c.name = a.name), (SELECT {self.aggregate}(x.alias || '=' || x.number, ',')"
            " FROM catalog_aliases x WHERE x.name = a.name)"
            " FROM catalog_artifacts a JOIN catalog_versions v"
            " ON v.name = a.name AND v.number = (SELECT MAX(l.number) FROM catalog_versions l"
            f" WHERE l.name = a.name) WHERE {condition} ORDER BY a.name",
            compiler.params,
        )
        entries = []
        for (name, created, number, size, ctype, sha256, is_text, updated, metadata, message,
             count, aliases) in rows:
            pairs = [pair.split("=") for pair in str(aliases).split(",")] if aliases else []
            listed = {"latest": version_id(int(number))}
            listed.update((a, version_id(int(n))) for a, n in sorted(pairs))
            entries.append({
                "name": str(name),
                "version": version_id(int(number)),
                "versions": int(count),
                "size": int(size),
                "content_type": str(ctype),
                "sha256": str(sha256),
                "text": bool(is_text),
                "created_at": (_EPOCH + timedelta(microseconds=int(created))).isoformat(),
                "updated_at": (_EPOCH + timedelta(microseconds=int(updated))).isoformat(),
                "metadata": json.loads(metadata),
                "message": None if message is None else str(message),
                "aliases": listed,
            })
        return entries

    async def record(self, changes: Sequence[ArtifactVersion | Head]) -> None:
        heads = {c.name: c for c in changes if isinstance(c, Head)}  # the last of each
        await self._write(_grouped(
            [rows for c in changes if isinstance(c, ArtifactVersion) for rows in _version_rows(c)]
            + [rows for head in heads.values() for rows in _head_rows(head)]
        ))

    async def apply(self, states: Sequence[ArtifactState]) -> None:
        await self._write(_grouped([
            rows
            for state in states
            for rows in [*_head_rows(state.head),
                         *(r for v in state.versions for r in _version_rows(v))]
        ]))

    async def clear(self) -> None:
        await self._write([
            *(
                (f"DELETE FROM {table}", [()])
                for table in (
                    "catalog_state", "catalog_artifacts", "catalog_deleted", "catalog_versions",
                    "catalog_aliases", "catalog_inputs", "catalog_meta",
                )
            ),
            (
                "INSERT INTO catalog_state (key, value) VALUES ('rebuilding', ?)",
                [(datetime.now(timezone.utc).isoformat(),)],
            ),
        ])

    async def optimize(self) -> None:
        await self._write([
            (f"ANALYZE {table}", [()])
            for table in ("catalog_versions", "catalog_meta", "catalog_aliases", "catalog_inputs",
                          "catalog_artifacts")
        ])

    async def _state(self, key: str) -> datetime | None:
        rows = await self._fetch("SELECT value FROM catalog_state WHERE key = ?", [key])
        return datetime.fromisoformat(rows[0][0]) if rows else None

    async def watermark(self) -> datetime | None:
        return await self._state("watermark")

    async def rebuilding(self) -> datetime | None:
        return await self._state("rebuilding")

    async def set_watermark(self, moment: datetime) -> None:
        await self._write([
            (
                "INSERT INTO catalog_state (key, value) VALUES ('watermark', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [(moment.isoformat(),)],
            ),
            ("DELETE FROM catalog_state WHERE key = 'rebuilding'", [()]),
        ])
