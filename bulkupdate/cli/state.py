"""``bulkupdate state``: what the state store holds, and forgetting, seeding or
copying it. The work is :mod:`bulkupdate.state.command`'s; here the store is opened
from the settings (``--state``, and the scope as for a run: ``--base-url`` and the
credentials' identity, or ``--state-scope``).

    bulkupdate state show                     # counts by program, pending, oldest confirmation
    bulkupdate state forget --customer ID     # erase one person (5, id:5, mobile:91...)
    bulkupdate state forget --program NAME    # every key of a program
    bulkupdate state forget --before DATE     # keys confirmed before DATE (ISO 8601)
    bulkupdate state import RUN_DIR...        # seed from finished runs' ok results
    bulkupdate state copy --to URL            # everything into an empty store (SQLite → PostgreSQL)
"""

from __future__ import annotations

from pathlib import Path

import orjson

from ..errors import UsageError
from ..night.exitcode import EXIT_OK
from ..settings import Settings


def state_command(action: str, settings: Settings, *, customer: str | None = None,
                  program: str | None = None, before: str | None = None,
                  run_dirs: list[Path] | None = None, to: str | None = None,
                  as_json: bool = False) -> int:
    if not settings.state:
        raise UsageError("state needs a store: --state URL (or BULKUPDATE_STATE, or state in "
                         "the config)")
    if action == "copy" and not to:
        raise UsageError("state copy: name the empty store to copy into: --to URL")
    from ..state import command, open_store

    store = open_store(settings.state, scope=settings.scope)
    try:
        if action == "show" and as_json:
            text = orjson.dumps(store.summary(), option=orjson.OPT_INDENT_2).decode()
        elif action == "show":
            text = command.show(store)
        elif action == "import":
            text = command.import_command(store, run_dirs or [])
        elif action == "copy":
            assert to is not None
            target = open_store(to, scope=settings.scope)
            try:
                text = command.copy(store, target)
            finally:
                target.close()
        else:
            text = command.forget(store, customer=customer, program=program, before=before)
    finally:
        store.close()
    print(text)
    return EXIT_OK
