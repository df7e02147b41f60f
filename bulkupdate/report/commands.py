"""The commands a report (or the CLI's last line) tells the operator to run next."""

from __future__ import annotations

import shlex
from pathlib import Path


def command(verb: str, path: Path | str) -> str:
    """``bulkupdate VERB PATH``, ready to paste into a shell (a run directory's name
    may hold a space)."""
    return f"bulkupdate {verb} {shlex.quote(str(path))}"
