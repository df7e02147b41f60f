"""A batch's rows as mutable values while results are applied to them, written
back in one go: deletes, then updates, then inserts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .confirm import Known
from .db import Db

TYPES = (("customer", "text"), ("program", "text"), ("linked", "smallint"), ("tier", "text"),
         ("expiry", "bigint"), ("confirmed_at", "bigint"), ("confirmed_by", "bigint"),
         ("pending", "bigint"), ("writer", "bigint"), ("rejected", "smallint"))
COLUMNS = ", ".join(name for name, _ in TYPES)


@dataclass(slots=True)
class Row:
    customer: str
    program: str
    id: int | None = None          # None: not in the store yet
    linked: bool | None = None
    tier: str | None = None
    expiry: int | None = None
    confirmed_at: int | None = None
    confirmed_by: int | None = None
    pending: int | None = None
    writer: int = 0
    rejected: bool = False
    dirty: bool = False
    deleted: bool = False

    def known(self) -> Known:
        return Known(self.linked, self.tier, self.expiry)

    def values(self) -> tuple[object, ...]:
        return (self.customer, self.program, _flag(self.linked), self.tier, self.expiry,
                self.confirmed_at, self.confirmed_by, self.pending, self.writer,
                int(self.rejected))


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(value)


class Rows(dict[tuple[str, str], Row]):
    """(customer, program) → row, loaded for a set of customers."""

    def __init__(self) -> None:
        super().__init__()
        self.programs: dict[str, set[str]] = {}   # customer → its programs here

    @classmethod
    def load(cls, db: Db, customers: Iterable[str]) -> Rows:
        rows = cls()
        wanted = sorted(set(customers))
        if not wanted:
            return rows
        where, params = db.member("customer", wanted)
        for rid, *values in db.all(f"SELECT id, {COLUMNS} FROM state WHERE {where}", params):
            c, p, linked, tier, expiry, at, by, pending, writer, rejected = values
            rows.put(Row(c, p, rid, None if linked is None else bool(linked), tier,
                         expiry, at, by, pending, writer, bool(rejected)))
        return rows

    def put(self, row: Row) -> Row:
        self[row.customer, row.program] = row
        self.programs.setdefault(row.customer, set()).add(row.program)
        return row

    def get_or_new(self, customer: str, program: str) -> Row:
        row = self.get((customer, program))
        if row is None or row.deleted:
            # A row deleted earlier in the batch comes back as itself (its id kept).
            row = self.put(Row(customer, program, None if row is None else row.id))
        return row

    def live(self, customer: str) -> list[Row]:
        return [r for p in sorted(self.programs.get(customer, ()))
                if not (r := self[customer, p]).deleted]

    def save(self, db: Db) -> None:
        gone = [r.id for r in self.values() if r.deleted and r.id is not None]
        if gone:
            where, params = db.member("id", gone)
            db.execute(f"DELETE FROM state WHERE {where}", params)
        changed = [r.values() for r in self.values() if r.dirty and not r.deleted]
        db.upsert("state", TYPES, "customer, program",
                  ", ".join(f"{name} = excluded.{name}" for name, _ in TYPES[2:]), changed)
