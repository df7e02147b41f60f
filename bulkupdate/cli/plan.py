"""``bulkupdate plan INPUT --state URL``: what a run with the store would send,
said before anything is: the run's own first lines, without the run. Offline but
for the store; exit 0, or 2 when ``--max-changes``/``--max-missing`` would stop it."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import UsageError
from ..night.exitcode import EXIT_OK, EXIT_USAGE
from ..planning.delinks import plan_file
from ..planning.night import make_plan, open_store_for
from ..planning.tally import describe, refusal
from ..settings import Settings
from ..source.lines import count_records


def _input(input_arg: str) -> Path:
    path = Path("/dev/stdin") if input_arg == "-" else Path(input_arg)
    if input_arg != "-" and not path.is_file():
        raise UsageError(f"{input_arg}: no such file")
    return path


def plan_delinks(input_arg: str) -> int:
    """``plan --delink`` without a store: what the file would delink, nothing else."""
    print(f"bulkupdate: {plan_file(_input(input_arg)).sentence()}")
    return EXIT_OK


def plan_command(input_arg: str, settings: Settings, *, api: str = "update") -> int:
    if api == "delink":
        plan_delinks(input_arg)   # what a destructive night would do, with or without a store
        if not settings.state:
            return EXIT_OK
    path = _input(input_arg)
    if not settings.state:
        raise UsageError("plan needs a state store: --state URL (or BULKUPDATE_STATE, or "
                         "state in the config)")
    store = open_store_for(settings)
    try:
        lines = None if input_arg == "-" else count_records(path)
        tally = make_plan(store, settings, path, api, lines_hint=lines)
    finally:
        store.close()
    for line in describe(tally, settings.rate, settings.batch_size):
        print(line)
    why = refusal(tally, settings.max_changes, settings.max_missing)
    if why is not None:
        print(f"bulkupdate: {why.replace('; nothing was sent', '')}: a run would stop here "
              "(exit 2)", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK
