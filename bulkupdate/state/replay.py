"""Applying a run's ``results.jsonl`` to the store: the ledger is the authority.

Read from the offset the store recorded for the run, complete lines only (a
line still being written ends without ``\\n``), a batch at a time; each batch's
rows, aliases, spent marks and the new offset are written in one transaction,
so after ``kill -9`` at any point store and ledger agree once replayed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ..base.safefiles import open_file
from .confirm import confirmed
from .db import Db
from .intent import Intent, load_intents
from .lookup import customer_key
from .rows import Row, Rows

CHUNK = 1 << 20          # bytes read at a time
BATCH = 2000             # results per transaction


@dataclass(frozen=True, slots=True)
class Mark:
    """What one (run, line) sent: see :mod:`bulkupdate.state.marks`."""
    target: str
    marked: tuple[str, ...]
    idents: tuple[str, ...]
    intents: tuple[Intent, ...]


Writable = Callable[[Row], bool]


def apply_results(db: Db, seq: int, path: Path, now: int,
                  writable: Writable | None = None) -> int:
    """Lines applied; the run's offset advanced with them. ``writable``: which
    rows the run may write (default: those it is the latest writer of)."""
    writable = writable or (lambda row: row.writer <= seq)
    offset = int(db.one("SELECT applied FROM runs WHERE seq = ?", (seq,))[0])
    try:
        fh = open_file(path, "rb")
    except FileNotFoundError:
        return 0
    applied = 0
    with fh:
        fh.seek(offset)
        tail = b""
        while chunk := fh.read(CHUNK):
            data = tail + chunk
            cut = data.rfind(b"\n") + 1
            tail = data[cut:]
            lines = data[:cut].splitlines()
            for start in range(0, len(lines), BATCH):
                part = lines[start:start + BATCH]
                offset += sum(len(line) + 1 for line in part)
                applied += _apply_batch(db, seq, [_parse(line) for line in part], offset, now,
                                        writable)
    return applied


# As the ledger writes it; inside a JSON string the quotes would be escaped.
UNCHANGED_LINE = b'"outcome":"unchanged"'


def _parse(line: bytes) -> dict[str, Any] | None:
    if UNCHANGED_LINE in line:
        return None       # not sent, nothing to confirm: most of a full export's night
    try:
        result = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None       # not ours to judge here: its keys stay pending
    return result if isinstance(result, dict) and type(result.get("line")) is int else None


def _apply_batch(db: Db, seq: int, results: list[dict[str, Any] | None], offset: int,
                 now: int, writable: Writable) -> int:
    numbers = [r["line"] for r in results if r is not None]
    marks = load_marks(db, seq, numbers)
    pairs = [(r, marks[r["line"]]) for r in results if r is not None and r["line"] in marks]
    with db.transaction():
        apply_pairs(db, seq, pairs, now, writable)
        if numbers:
            where, params = db.member("line", numbers)
            db.execute(f"DELETE FROM marks WHERE run = ? AND {where}", [seq, *params])
        db.execute("UPDATE runs SET applied = ? WHERE seq = ?", (offset, seq))
    return len(pairs)


def load_marks(db: Db, seq: int, lines: Sequence[int]) -> dict[int, Mark]:
    if not lines:
        return {}
    where, params = db.member("line", lines)
    return {line: Mark(target, tuple(orjson.loads(marked)), tuple(orjson.loads(idents)),
                       load_intents(intents))
            for line, target, marked, idents, intents in db.all(
                f"SELECT line, target, marked, idents, intents FROM marks "
                f"WHERE run = ? AND {where}", [seq, *params])}


def apply_pairs(db: Db, seq: int, pairs: Sequence[tuple[dict[str, Any], Mark]], now: int,
                writable: Writable) -> None:
    """Apply each (result, mark) in order to the rows it touches, and write
    the rows and the aliases the answers taught (``writable``: the latest-writer
    rule, or the seeding rule)."""
    customers: set[str] = set()
    for result, mark in pairs:
        customers.update((mark.target, *mark.marked, *mark.idents))
        if type(result.get("customerId")) is int:
            customers.add(customer_key(result["customerId"]))
    rows = Rows.load(db, customers)
    aliases: dict[str, int] = {}
    for result, mark in pairs:
        apply_one(rows, result, mark, seq, now, writable, aliases)
    rows.save(db)
    db.upsert("aliases", (("alias", "text"), ("cid", "bigint")), "alias", "cid = excluded.cid",
              sorted(aliases.items()))


def apply_one(rows: Rows, result: dict[str, Any], mark: Mark, seq: int, now: int,
              writable: Writable, aliases: dict[str, int]) -> None:
    cid = result.get("customerId")
    target = customer_key(cid) if type(cid) is int else mark.target
    if type(cid) is int:
        aliases.update(dict.fromkeys((*mark.idents, target), cid))
        _merge(rows, mark, target)
    by_program = {i.program: i for i in mark.intents}
    rejected = result.get("outcome") in ("rejected", "partial")
    for program in result.get("programs") or ():
        intent = by_program.get(str(program.get("partnerProgramName"))) \
            if isinstance(program, dict) else None
        if intent is None:
            continue
        row = rows.get_or_new(target, intent.program)
        if not writable(row):
            continue
        known = confirmed(intent, program, row.known())
        if known is not None:
            row.linked, row.tier, row.expiry = known.linked, known.tier, known.expiry
            row.confirmed_at, row.confirmed_by, row.pending = now, seq, None
            row.rejected = False
        else:
            row.rejected = rejected and program.get("code") is not None
            if row.pending is None:
                row.pending = seq   # sent under another key: the doubt follows the customer
        row.writer, row.dirty = max(row.writer, seq), True


def _merge(rows: Rows, mark: Mark, target: str) -> None:
    """Rows still keyed by an identifier of this customer move to its id: the
    values when the id has no row for that program, the doubt in any case."""
    for key in {*mark.idents, *mark.marked} - {target}:
        if key.startswith("id:"):
            continue    # another customer's rows (an identifier that named it before)
        for old in rows.live(key):
            new = rows.get((target, old.program))
            if new is None or new.deleted:
                new = rows.get_or_new(target, old.program)
                new.linked, new.tier, new.expiry = old.linked, old.tier, old.expiry
                new.confirmed_at, new.confirmed_by = old.confirmed_at, old.confirmed_by
                new.rejected = old.rejected
            if new.pending is None:
                new.pending = old.pending
            new.writer, new.dirty = max(new.writer, old.writer), True
            old.deleted = True
