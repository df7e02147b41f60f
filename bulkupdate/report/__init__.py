"""``bulkupdate report``: what happened, from the run directory alone.

This module dispatches between the formats; each reads the run back through
:mod:`bulkupdate.rundir.readback`:

* :mod:`.table` — the table and CSV formats (JSON is the summary itself);
* :mod:`.html` — the night on one self-contained page;
* :mod:`.svg` — the page's small inline charts;
* :mod:`.verification` — what ``bulkupdate verify`` read back, in every format;
* :mod:`.commands` — the commands a report tells the operator to run next.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TextIO

import orjson

from ..rundir.errorfile import described
from ..rundir.lock import holder
from ..rundir.manifest import api_of
from ..rundir.readback import load
from ..rundir.summary import is_stale, recount
from .table import write_csv, write_table

FORMATS = ("table", "json", "csv", "html")


def write_report(run_dir: Path, fmt: str, out: TextIO) -> None:
    """``run_dir`` reported in ``fmt`` (one of :data:`FORMATS`) to ``out``. A link
    run reads like an update run: its programs' ``updateType`` is ``LINK``."""
    manifest, summary = load(run_dir)
    if holder(run_dir) is None and is_stale(manifest, summary):
        # A session killed after the last summary.json: counted afresh, not the stale file.
        summary = recount(run_dir, manifest, summary).to_dict()
    if fmt == "json":
        from .verification import verification

        # The summary, and which API the run served (the manifest's: no flag needed).
        shown = {"api": api_of(manifest), **summary} if summary else {
            "manifest": manifest, "running": holder(run_dir)}
        verified = verification(run_dir)
        if verified is not None:
            shown = {**shown, "verification": verified}
        errors = described(run_dir, summary.get("outcomes") or {}) if summary else None
        if errors is not None:
            shown = {**shown, "errors": errors}
        out.write(orjson.dumps(shown, option=orjson.OPT_INDENT_2).decode() + "\n")
    elif fmt == "csv":
        write_csv(run_dir, out)
    elif fmt == "html":
        from .html import write_html  # the page's CSS and charts only when asked for

        write_html(run_dir, manifest, summary, out)
    else:
        write_table(run_dir, manifest, summary, out)


def render(run_dir: Path, fmt: str = "table") -> str:
    buf = io.StringIO()
    write_report(run_dir, fmt, buf)
    return buf.getvalue()
