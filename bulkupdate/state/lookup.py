"""Finding a batch of records' customers and rows: two queries per batch,
whatever its size (one for the aliases, one for the rows).

A record's identifiers resolve to a customer id only when every one of them is
an alias of the same known id; otherwise it is ``new`` (none known) or
``ambiguous`` (several ids, or some identifiers never seen): sent either way."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from .db import Db
from .intent import Intent
from .skip import Clock, Decision, StoredRow, decide_customer

ROW_COLUMNS = "customer, program, id, linked, tier, expiry, confirmed_at, pending, rejected"
Item = tuple[tuple[str, ...], tuple[Intent, ...]]


def customer_key(cid: int) -> str:
    return f"id:{cid}"


def aliases_of(db: Db, keys: Iterable[str]) -> dict[str, int]:
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    where, params = db.member("alias", wanted)
    return {alias: int(cid) for alias, cid in db.all(f"SELECT alias, cid FROM aliases "
                                                      f"WHERE {where}", params)}


def resolve(keys: Sequence[str], aliases: dict[str, int]) -> tuple[str, frozenset[int]]:
    """("resolved" | "new" | "ambiguous", the ids the known identifiers name)."""
    ids = frozenset(aliases[k] for k in keys if k in aliases)
    if not ids:
        return "new", ids
    if len(ids) == 1 and all(k in aliases for k in keys):
        return "resolved", ids
    return "ambiguous", ids


def rows_of(db: Db, customers: Iterable[str]) -> dict[str, dict[str, StoredRow]]:
    """The rows of these customers (``id:…`` or identifier keys), by customer and program."""
    wanted = sorted(set(customers))
    out: dict[str, dict[str, StoredRow]] = {}
    if not wanted:
        return out
    where, params = db.member("customer", wanted)
    for customer, program, index, linked, tier, expiry, confirmed, pending, rejected in db.all(
            f"SELECT {ROW_COLUMNS} FROM state WHERE {where}", params):
        out.setdefault(customer, {})[program] = StoredRow(
            program, index, None if linked is None else bool(linked), tier, expiry, confirmed,
            pending, bool(rejected))
    return out


def decide_batch(db: Db, items: Sequence[Item], clock: Clock) -> tuple[list[Decision], list[int]]:
    """The batch's decisions, and the ids of the rows its records name (for
    :meth:`Store.absent`)."""
    aliases = aliases_of(db, (k for keys, _ in items for k in keys))
    resolved = [resolve(keys, aliases) for keys, _ in items]
    customers = [customer_key(next(iter(ids))) for status, ids in resolved if status == "resolved"]
    rows = rows_of(db, [*customers, *(k for keys, _ in items for k in keys)])
    decisions: list[Decision] = []
    seen: list[int] = []
    for (keys, intents), (status, ids) in zip(items, resolved, strict=True):
        if status != "resolved":
            decisions.append(Decision(True, status, None))
            seen.extend(r.index for k in keys for r in rows.get(k, {}).values())
            continue
        cid = next(iter(ids))
        mine = _with_alias_marks(rows.get(customer_key(cid), {}), keys, rows)
        decisions.append(decide_customer(cid, mine, intents, clock))
        seen.extend(r.index for i in intents if (r := mine.get(i.program)) is not None)
    return decisions, seen


def _with_alias_marks(own: dict[str, StoredRow], keys: Sequence[str],
                      rows: dict[str, dict[str, StoredRow]]) -> dict[str, StoredRow]:
    """A customer's rows, pending wherever a row still keyed by one of its
    identifiers is (a request sent before the id was known, not yet answered)."""
    merged = own
    for key in keys:
        for program, row in rows.get(key, {}).items():
            if row.pending is not None:
                if merged is own:
                    merged = dict(own)
                base = merged.get(program, row)
                merged[program] = replace(base, pending=row.pending)
    return merged
