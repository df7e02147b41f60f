"""Copying a store to another (SQLite → PostgreSQL, or a new file): every
table but the lease, rows keeping their ids (a key's refresh phase), into an
empty store of the same scope (both stores opened with it)."""

from __future__ import annotations

from .db import Db
from .errors import StateError

TABLES = {
    "runs": "seq, run_id, run_dir, api, started_at, ended_at, applied, imported",
    "aliases": "alias, cid",
    "state": "id, customer, program, linked, tier, expiry, confirmed_at, confirmed_by, "
             "pending, writer, rejected",
    "marks": "run, line, target, marked, idents, intents",
}
SERIALS = {"runs": "seq", "state": "id"}
CHUNK = 5000


def copy_store(source: Db, target: Db) -> dict[str, int]:
    for table in TABLES:
        if target.one(f"SELECT count(*) FROM {table}")[0]:
            raise StateError(f"state copy: the target store already holds {table}: "
                             "copy into a new, empty store")
    counts = {}
    with target.transaction():
        for table, columns in TABLES.items():
            counts[table] = _copy(source, target, table, columns)
            if target.pg and table in SERIALS:
                column = SERIALS[table]
                target.execute(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                               f"(SELECT coalesce(max({column}), 0) + 1 FROM {table}), false)")
    return counts


def _copy(source: Db, target: Db, table: str, columns: str) -> int:
    width = len(columns.split(","))
    insert = f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' * width)})"
    cursor = source.execute(f"SELECT {columns} FROM {table}")
    total = 0
    while rows := cursor.fetchmany(CHUNK):
        target.executemany(insert, [tuple(r) for r in rows])
        total += len(rows)
    return total
