"""What the store does besides a night's decisions: what tonight's file left
out, a verify's confirmation, forgetting, a sample for ``verify --sample``,
and the summary ``bulkupdate state`` shows."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from .db import Db
from .intent import Intent, from_micros
from .lookup import aliases_of, customer_key
from .marks import targets
from .replay import Mark, apply_pairs


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A confirmed (customer, program) as the store holds it."""
    customer_id: int
    program: str
    linked: bool | None
    tier: str | None
    expiry: datetime | None


def hold(db: Db, run_id: str) -> None:
    """Say who holds the lease, for the next one's message."""
    db.execute("INSERT INTO lease (one, run_id, host, pid) VALUES (1, ?, ?, ?) "
               "ON CONFLICT (one) DO UPDATE SET run_id = excluded.run_id, "
               "host = excluded.host, pid = excluded.pid",
               (run_id, socket.gethostname(), os.getpid()))


def busy(db: Db, where: str) -> str:
    row = db.one("SELECT run_id, host, pid FROM lease WHERE one = 1")
    who = "another run" if not row else f"run {row[0]} (pid {row[2]} on host {row[1]})"
    return (f"state store {where} is in use by {who}: two runs with one scope never run at "
            "once; wait for it to finish")


def _seen_table(db: Db) -> None:
    if "seen" not in db.temp_tables:
        db.execute("CREATE TEMP TABLE IF NOT EXISTS seen (id BIGINT PRIMARY KEY)")
        db.temp_tables.add("seen")


def note_seen(db: Db, ids: Sequence[int]) -> None:
    """Remember (for this connection) rows tonight's records named: one statement."""
    _seen_table(db)
    if not ids:
        return
    if db.pg:
        db.execute("INSERT INTO seen (id) SELECT unnest(?::bigint[]) ON CONFLICT DO NOTHING",
                   (list(ids),))
    else:
        db.execute("INSERT OR IGNORE INTO seen (id) SELECT value FROM json_each(?)",
                   (orjson.dumps(list(ids)).decode(),))


def absent(db: Db, programs: Iterable[str]) -> dict[str, int]:
    _seen_table(db)
    wanted = sorted(set(programs))
    if not wanted:
        return {}
    where, params = db.member("program", wanted)
    rows = db.all(f"SELECT program, count(*) FROM state WHERE linked = 1 AND {where} "
                  "AND NOT EXISTS (SELECT 1 FROM seen WHERE seen.id = state.id) "
                  "GROUP BY program", params)   # an anti-join: NOT IN scans per row
    return {program: int(count) for program, count in rows}


def confirm_verified(db: Db, seq: int, keys: tuple[str, ...], customer_id: int | None,
                     intents: tuple[Intent, ...], now: int) -> None:
    target, _ = targets(keys, aliases_of(db, keys)) if keys else ("", [])
    if customer_id is None and not target:
        return
    mark = Mark(target, (), keys, intents)
    result = {"customerId": customer_id, "outcome": "ok",
              "programs": [{"partnerProgramName": i.program, "updateType": i.kind, "ok": True}
                           for i in intents]}
    with db.transaction():
        apply_pairs(db, seq, [(result, mark)], now, lambda row: row.writer <= seq)


def forget_customer(db: Db, identifier: str) -> int:
    """Erase one person: every row and alias of the customer an identifier
    (``id:5``, ``mobile:91…``, a bare id) names, and what is pending for it.
    Returns how many rows and aliases went."""
    text = identifier.strip()
    key = f"id:{text}" if text.isdigit() else text
    cids = set(aliases_of(db, [key]).values())
    if key.startswith("id:") and key[3:].isdigit():
        cids.add(int(key[3:]))
    names = {key}
    for cid in cids:
        names.add(customer_key(cid))
        names.update(a for (a,) in db.all("SELECT alias FROM aliases WHERE cid = ?", (cid,)))
    gone = 0
    with db.scrubbing(), db.transaction():
        where, params = db.member("customer", sorted(names))
        gone += db.execute(f"DELETE FROM state WHERE {where}", params).rowcount
        where, params = db.member("alias", sorted(names))
        gone += db.execute(f"DELETE FROM aliases WHERE {where}", params).rowcount
        for name in sorted(names):   # a mark names the identifiers it was sent with
            db.execute("DELETE FROM marks WHERE idents LIKE ? OR target = ?",
                       (f"%{orjson.dumps(name).decode()}%", name))
    return gone


def forget_program(db: Db, program: str) -> int:
    with db.transaction():
        return int(db.execute("DELETE FROM state WHERE program = ?", (program,)).rowcount)


def forget_before(db: Db, when: int) -> int:
    """Keys confirmed before ``when``: forgotten, so the next night sends them."""
    with db.transaction():
        return int(db.execute("DELETE FROM state WHERE confirmed_at < ?", (when,)).rowcount)


def sample_unchanged(db: Db, n: int, now: int) -> list[StoredKey]:
    """Up to ``n`` random keys the store would call unchanged: confirmed, not
    pending, the customer id known, the expiry (if any) still ahead."""
    rows = db.all("SELECT customer, program, linked, tier, expiry FROM state "
                  "WHERE pending IS NULL AND confirmed_at IS NOT NULL AND customer LIKE ? "
                  "AND (expiry IS NULL OR expiry > ?) ORDER BY random() LIMIT ?",
                  ("id:%", now, n))
    return [StoredKey(int(c[3:]), p, None if linked is None else bool(linked), tier,
                      from_micros(expiry)) for c, p, linked, tier, expiry in rows]


def summary(db: Db, scope: str) -> dict[str, Any]:
    """Counts by program (linked, not linked, unknown, pending), the oldest
    confirmation, the runs: what ``bulkupdate state`` prints."""
    programs: dict[str, dict[str, int]] = {}
    for program, linked, pending, count in db.all(
            "SELECT program, linked, pending IS NOT NULL, count(*) FROM state "
            "GROUP BY program, linked, pending IS NOT NULL ORDER BY program"):
        counts = programs.setdefault(program, {"linked": 0, "not_linked": 0, "unknown": 0,
                                               "pending": 0})
        counts["linked" if linked == 1 else "not_linked" if linked == 0 else "unknown"] += count
        if pending:
            counts["pending"] += count
    oldest = db.one("SELECT min(confirmed_at) FROM state")[0]
    runs, last = db.one("SELECT count(*), max(started_at) FROM runs")
    meta = dict(db.all("SELECT key, value FROM meta"))
    return {"scope": scope, "schema_version": int(meta.get("schema_version", 0)),
            "keys": sum(sum(c[k] for k in ("linked", "not_linked", "unknown"))
                        for c in programs.values()),
            "pending": sum(c["pending"] for c in programs.values()),
            "customers": int(db.one("SELECT count(DISTINCT cid) FROM aliases")[0]),
            "programs": programs, "oldest_confirmation": _iso(oldest),
            "runs": int(runs), "last_run": _iso(last)}


def _iso(micros: int | None) -> str | None:
    when = from_micros(micros)
    return None if when is None else when.isoformat(timespec="seconds")
