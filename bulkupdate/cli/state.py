"""``bulkupdate state``: what the state store holds, and forgetting or seeding it.

    bulkupdate state show                     # counts by program, pending, oldest confirmation
    bulkupdate state forget --customer ID     # erase one person (id, id:5, mobile:91...)
    bulkupdate state forget --program NAME    # every key of a program
    bulkupdate state forget --before DATE     # keys confirmed before DATE (ISO 8601)
    bulkupdate state import RUN_DIR...        # seed from finished runs' ok results

The store and its scope come from the settings (``--state``, ``--base-url``,
credentials' identity or ``--state-scope``), as for a run."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from ..errors import UsageError
from ..exitcode import EXIT_OK
from ..settings import Settings


def state_command(action: str, settings: Settings, *, customer: str | None = None,
                  program: str | None = None, before: str | None = None,
                  run_dirs: list[Path] | None = None, as_json: bool = False) -> int:
    if not settings.state:
        raise UsageError("state needs a store: --state URL (or BULKUPDATE_STATE, or state in "
                         "the config)")
    from ..state import open_store

    if action == "forget" and sum(x is not None for x in (customer, program, before)) != 1:
        raise UsageError("state forget: give one of --customer ID, --program NAME, "
                         "--before DATE")
    when = _date(before) if before is not None else None
    if action == "import" and not run_dirs:
        raise UsageError("state import: name the run directories to seed the store from")
    store = open_store(settings.state, scope=settings.scope)
    try:
        if action == "show":
            _show(store.summary(), as_json)
        elif action == "import":
            applied = store.import_runs(run_dirs or [])
            print(f"{applied} results applied from {len(run_dirs or [])} run directories")
        elif customer is not None:
            print(f"{store.forget_customer(customer)} rows and aliases forgotten")
        elif program is not None:
            print(f"{store.forget_program(program)} keys of {program} forgotten")
        else:
            assert when is not None
            print(f"{store.forget_before(when)} keys confirmed before {before} forgotten")
    finally:
        store.close()
    return EXIT_OK


def _date(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--before {text!r}: use an ISO 8601 date, e.g. 2026-11-01") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _show(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
        return
    print(f"scope      {summary.get('scope')}")
    print(f"keys       {summary.get('keys', 0):,} ({summary.get('customers', 0):,} customers), "
          f"{summary.get('pending', 0):,} pending")
    print(f"oldest     {summary.get('oldest_confirmation') or '-'}")
    print(f"runs       {summary.get('runs', 0)} (last {summary.get('last_run') or '-'})")
    programs = summary.get("programs") or {}
    if programs:
        print(f"\n{'program':<28} {'linked':>10} {'not linked':>11} {'unknown':>9} "
              f"{'pending':>9}")
    for name, c in sorted(programs.items()):
        print(f"{name:<28} {c.get('linked', 0):>10,} {c.get('not_linked', 0):>11,} "
              f"{c.get('unknown', 0):>9,} {c.get('pending', 0):>9,}")
