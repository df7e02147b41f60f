"""The work of ``bulkupdate state``: show what the store holds, forget, import
finished runs, copy a store to another URL. Each returns the text to print;
the CLI only parses arguments and opens the store."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from ..base.words import plural
from .copy import copy_store
from .errors import StateError
from .store import Store


def show(store: Store) -> str:
    """Counts by program, pending, the oldest confirmation, the runs."""
    info = store.summary()
    lines = [f"state store {store.url} (scope {info['scope']}, schema {info['schema_version']})",
             f"  {plural(info['customers'], 'customer')}, {plural(info['keys'], 'key')}, "
             f"{info['pending']:,} pending",
             f"  oldest confirmation: {info['oldest_confirmation'] or '-'}; "
             f"{plural(info['runs'], 'run')}, the last started {info['last_run'] or '-'}"]
    if info["programs"]:
        width = max(len("program"), *(len(name) for name in info["programs"]))
        lines.append(f"  {'program':<{width}}  {'linked':>10}  {'not linked':>10}  "
                     f"{'unknown':>10}  {'pending':>10}")
        for name, c in info["programs"].items():
            lines.append(f"  {name:<{width}}  {c['linked']:>10,}  {c['not_linked']:>10,}  "
                         f"{c['unknown']:>10,}  {c['pending']:>10,}")
    return "\n".join(lines)


def forget(store: Store, *, customer: str | None = None, program: str | None = None,
           before: str | None = None) -> str:
    """Exactly one of: a customer (``id:5``, ``5``, ``mobile:91…``), a program, a date."""
    if sum(x is not None for x in (customer, program, before)) != 1:
        raise StateError("state forget: give exactly one of --customer, --program, --before")
    if customer is not None:
        gone = store.forget_customer(customer)
        return (f"forgot the customer: {gone} rows and identifiers erased" if gone else
                "no such customer in the store: nothing erased")
    if program is not None:
        return f"forgot program {program!r}: {store.forget_program(program):,} keys"
    assert before is not None
    when = parse_date(before)
    return (f"forgot {store.forget_before(when):,} keys confirmed before "
            f"{when.isoformat(timespec='seconds')}: the next night sends them")


def parse_date(text: str) -> datetime:
    """``2026-11-01`` (midnight UTC) or a date-time with its offset."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise StateError(f"state forget --before: {text!r} is not a date: use e.g. 2026-11-01 "
                         "or 2026-11-01T00:00:00+05:30") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def import_command(store: Store, run_dirs: Sequence[Path]) -> str:
    if not run_dirs:
        raise StateError("state import: name at least one run directory")
    applied = store.import_runs(run_dirs)
    return (f"imported {applied:,} results from {len(run_dirs)} run "
            f"director{'y' if len(run_dirs) == 1 else 'ies'} into {store.url}")


def copy(source: Store, target: Store) -> str:
    """Everything ``source`` holds into the empty store ``target`` (e.g. from
    SQLite to PostgreSQL); the same scope, as both were opened with."""
    counts = copy_store(source.db, target.db)
    return (f"copied {counts['state']:,} keys, {counts['aliases']:,} identifiers and "
            f"{counts['runs']:,} runs from {source.url} to {target.url}")
