"""One connection, either backend, behind the few operations the store uses:
SQL is written once with ``?`` placeholders; a transaction is a ``with``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

ANALYZE_FIRST = 5_000   # rows written before PostgreSQL's statistics are refreshed, then x2


class Db:
    """A connection in autocommit mode; :meth:`transaction` groups statements."""

    def __init__(self, conn: Any, dialect: str) -> None:
        self.conn = conn
        self.dialect = dialect
        self.pg = dialect == "postgresql"
        self._depth = 0
        self._written, self._analyze_at = 0, ANALYZE_FIRST
        self.temp_tables: set[str] = set()   # created on this connection

    def sql(self, text: str) -> str:
        return text.replace("?", "%s") if self.pg else text

    def execute(self, text: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(self.sql(text), params)

    def executemany(self, text: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        if self.pg:
            with self.conn.cursor() as cur:
                cur.executemany(self.sql(text), rows)
        else:
            self.conn.executemany(text, rows)

    def upsert(self, table: str, columns: Sequence[tuple[str, str]], conflict: str,
               update: str, rows: Sequence[Sequence[Any]]) -> None:
        """Insert ``rows`` (``columns``: name and PostgreSQL type), updating on
        ``conflict``: one statement over arrays in PostgreSQL (a row at a time
        costs a round trip each), ``executemany`` in SQLite (in-process)."""
        if not rows:
            return
        names = ", ".join(name for name, _ in columns)
        tail = f"ON CONFLICT ({conflict}) DO UPDATE SET {update}"
        if not self.pg:
            marks = ", ".join("?" * len(columns))
            self.conn.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks}) {tail}", rows)
            return
        keys = [name.strip() for name in conflict.split(",")]
        at = [i for i, (name, _) in enumerate(columns) if name in keys]
        last = {tuple(row[i] for i in at): row for row in rows}   # one row per key, the last
        arrays = [list(column) for column in zip(*last.values(), strict=True)]
        unnest = ", ".join(f"?::{kind}[]" for _, kind in columns)
        self.execute(f"INSERT INTO {table} ({names}) SELECT * FROM unnest({unnest}) {tail}",
                     arrays)
        self._grew(len(last))

    def _grew(self, rows: int) -> None:
        """A store filling from empty (a first night) outgrows the planner's
        statistics long before autovacuum looks: lookups by key would scan the
        table. Refreshed each time the rows written since opening double."""
        self._written += rows
        if self._written >= self._analyze_at:
            self.execute("ANALYZE state, aliases, marks")
            self._analyze_at = 2 * self._written

    def all(self, text: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(self.execute(text, params).fetchall())

    def one(self, text: str, params: Sequence[Any] = ()) -> Any:
        return self.execute(text, params).fetchone()

    def member(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """``column IN (values)``: one array parameter in PostgreSQL, one
        placeholder per value in SQLite."""
        if self.pg:
            return f"{column} = ANY(?)", [list(values)]
        return f"{column} IN ({','.join('?' * len(values))})", list(values)

    def greatest(self, a: str, b: str) -> str:
        return f"GREATEST({a}, {b})" if self.pg else f"max({a}, {b})"

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing; nested ones join the outer one."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._depth = 1
        try:
            if self.pg:
                with self.conn.transaction():
                    yield
            else:
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    yield
                except BaseException:
                    self.conn.execute("ROLLBACK")
                    raise
                self.conn.execute("COMMIT")
        finally:
            self._depth = 0

    @contextlib.contextmanager
    def scrubbing(self) -> Iterator[None]:
        """Deletes that erase a person: SQLite (which overwrites what it deletes,
        see :mod:`.sqlite`) empties its WAL of the old pages; PostgreSQL vacuums
        the tables (their space is reused; backups and replicas keep what they hold)."""
        try:
            yield
        finally:
            if self.pg:
                self.execute("VACUUM state, aliases, marks")
            else:
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        self.conn.close()
