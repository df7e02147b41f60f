"""Pending marks: before a request leaves, each of its records' rows is marked
pending by the run, and what the record asks is kept per (run, line) so that
its result confirms exactly that. One transaction per request, on disk when it
returns; a mark never waits for the latest-writer rule (doubt always counts)."""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from .db import Db
from .intent import Intent, dump_intents
from .lookup import aliases_of, customer_key, resolve

Entry = tuple[int, tuple[str, ...], tuple[Intent, ...]]
MARK_TYPES = (("run", "bigint"), ("line", "bigint"), ("target", "text"), ("marked", "text"),
              ("idents", "text"), ("intents", "text"))
DOUBT_TYPES = (("customer", "text"), ("program", "text"), ("pending", "bigint"),
               ("writer", "bigint"))


def targets(keys: Sequence[str], aliases: dict[str, int]) -> tuple[str, list[str]]:
    """Where the answer's state goes if it names no id (the one id the known
    identifiers name, else the first identifier), and every customer whose rows
    the request puts in doubt (each id an identifier names, and the target)."""
    _, ids = resolve(keys, aliases)
    if len(ids) == 1:
        only = customer_key(next(iter(ids)))
        return only, [only]
    target = keys[0]
    return target, [*(customer_key(i) for i in sorted(ids)), target]


def mark_pending(db: Db, seq: int, entries: Sequence[Entry], *, rows: bool = True) -> None:
    """``rows``: also put the rows in doubt (a run about to send: always)."""
    aliases = aliases_of(db, (k for _, keys, _ in entries for k in keys))
    marks: list[tuple[object, ...]] = []
    doubts: list[tuple[object, ...]] = []
    for line, keys, intents in entries:
        target, marked = targets(keys, aliases)
        marks.append((seq, line, target, orjson.dumps(marked).decode(),
                      orjson.dumps(list(keys)).decode(), dump_intents(intents)))
        doubts.extend((customer, intent.program, seq, seq)
                    for customer in marked for intent in intents)
    with db.transaction():
        db.upsert("marks", MARK_TYPES, "run, line",
                  "target = excluded.target, marked = excluded.marked, "
                  "idents = excluded.idents, intents = excluded.intents", marks)
        db.upsert("state", DOUBT_TYPES, "customer, program",
                  f"pending = excluded.pending, "
                  f"writer = {db.greatest('state.writer', 'excluded.writer')}",
                  doubts if rows else [])
