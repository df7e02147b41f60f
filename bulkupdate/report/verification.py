"""The report's verification section: what ``bulkupdate verify`` read back, from
``verify.json`` (the counts per verdict) and ``verify.jsonl`` (the verdict of
each line: the CSV's ``verdict`` column). Nothing when no verify has run.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any, TextIO

from ..verify.files import REAPPLY, read_verify_summary
from ..verify.verdict import VERDICTS
from .commands import command


def verification(run_dir: Path) -> dict[str, Any] | None:
    """``verify.json`` as the report shows it (the JSON format's ``verification``
    key), or None when no verify has run."""
    summary = read_verify_summary(run_dir)
    if summary is None or not isinstance(summary.get("counts"), dict):
        return None
    counts = summary["counts"]
    return {"records": summary.get("records"), "complete": summary.get("complete"),
            "counts": {v: int(counts.get(v, 0) or 0) for v in VERDICTS},
            "reapply": summary.get("reapply"), "exit_code": summary.get("exit_code"),
            "ended_at": summary.get("ended_at")}


def write_section(run_dir: Path, out: TextIO) -> None:
    """The table format's section."""
    seen = verification(run_dir)
    if seen is None:
        return
    w = out.write
    state = "complete" if seen["complete"] else "INCOMPLETE: run verify again"
    w(f"\nverified      {sum(seen['counts'].values())} of {seen['records']} records read "
      f"back ({state}; verify exit {seen['exit_code']})\n")
    for verdict, count in seen["counts"].items():
        w(f"  {verdict:<12} {count:>7}\n")
    if seen["counts"]["differs"]:
        w(f"to re-send:   {command('run', run_dir / REAPPLY)}\n")
    if not seen["complete"]:
        w(f"to finish:    {command('verify', run_dir)}\n")


def html_block(run_dir: Path) -> str:
    """The HTML page's one block: the counts per verdict."""
    seen = verification(run_dir)
    if seen is None:
        return ""
    cells = "".join(f"<span>{escape(v)} <b>{n}</b></span>" for v, n in seen["counts"].items())
    state = "complete" if seen["complete"] else "incomplete: run bulkupdate verify again"
    reapply = (f"<p>{seen['reapply']} records to re-send: <code>bulkupdate run "
               f"{escape(str(run_dir / REAPPLY))}</code></p>" if seen["reapply"] else "")
    return ("<h2>Verification</h2><div class=card><p class=muted>"
            f"{sum(seen['counts'].values())} of {seen['records']} records read back "
            f"({escape(state)}; verify exit {seen['exit_code']})</p>"
            f"<p class=legend>{cells}</p>{reapply}</div>")
