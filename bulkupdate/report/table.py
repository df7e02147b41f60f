"""``bulkupdate report``'s table and CSV formats, from the run directory alone
(read back through :mod:`bulkupdate.rundir.readback`)."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from ..base.api import CODE_MEANINGS as API_CODES
from ..base.words import plural
from ..rundir import RESULTS
from ..rundir.errorfile import ERRORS_CSV, TO_FIX, described
from ..rundir.lock import describe_holder, holder
from ..rundir.manifest import api_of
from ..rundir.readback import read_results
from ..rundir.summary import figure
from ..source.sniff import command_of
from .commands import command

# One row per program update of a record (a record without one, e.g. invalid:
# one row); one fact per column, so a spreadsheet can filter on any of them.
# ``verdict``: what ``bulkupdate verify`` read back for the line (empty if not read).
# Before ``field``, which stays last: scripts read it from the end.
CSV_COLUMNS = ("line", "ref", "outcome", "uncertain", "verdict", "attempts", "customer",
               "customerId", "program", "update_type", "program_ok", "code", "message", "field")


def _so_far(run_dir: Path, out: TextIO) -> None:
    """A run without a summary: live (say by whom) or stopped (say how to finish)."""
    counts = Counter(r["outcome"] for r in read_results(run_dir))
    owner = holder(run_dir)
    if owner is not None:
        out.write(f"state      in progress: {describe_holder(owner)}\n")
    else:
        out.write(f"state      stopped: the run has not finished ({command('resume', run_dir)})\n")
    out.write(f"records    {sum(counts.values())} reported so far\n")
    for name, count in sorted(counts.items()):
        out.write(f"  {name:<11} {count:>8}\n")


def advice(learned: str) -> str:
    """The ``--rate`` to pass next time, from a summary's ``learned_rate``."""
    from ..engine.throttle import advised
    from ..settings import parse_rate

    return str(advised(parse_rate(learned)))


def _customer(customer: dict[str, Any] | None) -> str:
    if not customer:
        return ""
    return ";".join(f"{k}={v}" for k, v in customer.items() if v not in (None, ""))


def _cell(value: Any) -> Any:
    """Empty for none; booleans as ``true``/``false``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def write_csv(run_dir: Path, out: TextIO) -> None:
    from ..verify.files import read_verdicts

    verdicts = read_verdicts(run_dir)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in read_results(run_dir):
        head = [r["line"], _cell(r.get("ref")), r["outcome"], _cell(bool(r.get("uncertain"))),
                verdicts.get(r["line"], ""), r.get("attempts", 0), _customer(r.get("customer")),
                _cell(r.get("customerId"))]
        programs = r.get("programs") or [{}]
        for p in programs:
            ok = p.get("ok") if p else None
            message = p.get("message") or r.get("error") or r.get("message")
            writer.writerow([*head, _cell(p.get("partnerProgramName")),
                             _cell(p.get("updateType")), _cell(ok),
                             _cell(p.get("code", r.get("code"))), _cell(message),
                             _cell(r.get("field"))])


def write_table(run_dir: Path, manifest: dict[str, Any], summary: dict[str, Any],
           out: TextIO) -> None:
    w = out.write
    w(f"run        {run_dir}\n")
    w(f"input      {manifest.get('input')}\n")
    if api_of(manifest) == "link":
        w("api        link (the Link Customer API: bulkupdate link)\n")
    elif api_of(manifest) == "delink":
        w("api        delink (the Delink Customer API: bulkupdate delink)\n")
    if not summary:
        _so_far(run_dir, out)
        return
    state = "complete" if summary.get("complete") else "INCOMPLETE: resume it"
    total = "?" if summary["input_records"] is None else summary["input_records"]   # input gone
    w(f"records    {summary['results']} of {total} reported ({state})\n")
    code = summary.get("exit_code")
    lost = "none: the last session was killed; the run has not finished"
    w(f"exit code  {lost if code is None else code}\n")
    killed = summary.get("sessions_killed") or 0
    w(f"requests   {summary['requests']} in {summary['duration_s']} s over "
      f"{plural(summary['sessions'], 'session')}"
      + (f" ({killed} killed: timed from their journal)" if killed else "") + "\n")
    w(f"answers    {figure(summary, 'transient_answers', 0)} transient (retried or given up), "
      f"of which {figure(summary, 'throttled_answers', 0)} throttled (429)\n")
    if figure(summary, "results_per_s"):
        w(f"throughput {figure(summary, 'results_per_s')} results/s\n")
    if summary.get("learned_rate"):
        w(f"server     admitted about {summary['learned_rate']} (learned from its 429s while "
          f"sending at full pace); --rate {advice(summary['learned_rate'])} stays under it "
          "in every second\n")
    w("\noutcome       records\n")
    for name, count in summary["outcomes"].items():
        w(f"  {name:<11} {count:>8}\n")
    if summary.get("uncertain"):
        w(f"  (uncertain: {summary['uncertain']} records had an attempt whose fate is unknown; "
          "they may have been applied twice)\n")
        if api_of(manifest) == "update" and not (run_dir / "verify.json").exists():
            w(f"  ({command('verify', run_dir)} reads them back: "
              "docs/verify.md)\n")
    if summary.get("codes"):
        w("\nAPI code      count   meaning\n")
        for code, count in summary["codes"].items():
            w(f"  {code:<10} {count:>7}   {API_CODES.get(int(code), '')}\n")
    from .verification import write_section

    write_section(run_dir, out)
    invalid = Counter(r["field"] for r in read_results(run_dir) if r["outcome"] == "invalid")
    if invalid:
        w("\ninvalid records by field\n")
        width = max(len(fld) for fld in invalid)
        for fld, count in invalid.most_common(10):
            w(f"  {fld:<{width}} {count:>7}\n")
    _next_steps(run_dir, manifest, summary, out)


def _next_steps(run_dir: Path, manifest: dict[str, Any], summary: dict[str, Any],
                out: TextIO) -> None:
    """Where the per-record results are, and the commands that finish, retry or fix."""
    w = out.write
    w(f"\nper record: {run_dir / RESULTS}  "
      f"({command('report', run_dir)} --format csv)\n")
    if not summary.get("complete"):
        w(f"to finish:  {command('resume', run_dir)}\n")
    if summary["outcomes"].get("retryable"):
        w(f"to retry:   {command('run', run_dir / 'retry.jsonl')}\n")
    errors = described(run_dir, summary["outcomes"])
    if errors is not None:
        held = ", ".join(f"{errors[k]} {k}" for k in TO_FIX if errors[k])
        w(f"to fix:     {errors['file']} ({held}; each with its \"error\"; edit, then "
          f"{command(command_of(api_of(manifest)), Path(errors['file']))}), "
          f"or {ERRORS_CSV} beside it\n")
