"""What ``verify`` leaves in the run directory, private (0600) like the rest:

=================  ============================================================
``verify.jsonl``   one line per record read back, appended as verdicts come:
                   ``line``, ``ref``, ``customer``, ``input`` (the record),
                   ``why`` (uncertain / sample), ``verdict``, ``reason``,
                   ``programs`` (asked and held where they differ)
``reapply.jsonl``  the ``differs`` records, byte for byte as in the input,
                   rebuilt at the end: ``bulkupdate run reapply.jsonl``
``verify.json``    counts per verdict, records read, complete or not
=================  ============================================================

A ``verify`` run again skips every line already in ``verify.jsonl`` (unless
``--again``, which starts the file anew): no record is read twice.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from ..rundir.files import append_whole, open_append, read_lines, repair_tail, write_json_atomic
from ..rundir.private import open_file
from ..source.lines import iter_lines
from .verdict import VERDICTS

VERIFY_LOG = "verify.jsonl"
REAPPLY = "reapply.jsonl"
VERIFY_SUMMARY = "verify.json"


class VerifyFile:
    """``verify.jsonl``: what is already judged, and the appender for the rest."""

    def __init__(self, run_dir: Path, *, again: bool) -> None:
        self.path = run_dir / VERIFY_LOG
        if again and self.path.exists():
            os.unlink(self.path)
        repair_tail(self.path)
        self.done: dict[int, str] = {}
        for _, raw in read_lines(self.path):
            line = orjson.loads(raw)
            self.done[int(line["line"])] = str(line["verdict"])
        self._fh: BinaryIO | None = None

    def append(self, entry: dict[str, Any]) -> None:
        if self._fh is None:
            self._fh = open_append(self.path)
        append_whole(self._fh, orjson.dumps(entry) + b"\n")
        self.done[int(entry["line"])] = str(entry["verdict"])

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(VERDICTS, 0)
        for verdict in self.done.values():
            counts[verdict] = counts.get(verdict, 0) + 1
        return counts


def write_reapply(run_dir: Path, input_path: Path, lines: set[int], api: str) -> int:
    """``reapply.jsonl``: the given input lines, byte for byte (a CSV's rows as
    ``api``'s items); how many."""
    written = 0
    tmp = run_dir / (REAPPLY + ".tmp")
    with open_file(tmp, "wb") as fh:
        if lines:
            for number, raw in iter_lines(input_path, api=api):
                if number in lines:
                    fh.write(bytes(raw) + b"\n")
                    written += 1
    os.replace(tmp, run_dir / REAPPLY)
    return written


def write_verify_summary(run_dir: Path, summary: dict[str, Any]) -> None:
    write_json_atomic(run_dir / VERIFY_SUMMARY, summary)


def read_verify_summary(run_dir: Path) -> dict[str, Any] | None:
    """``verify.json`` when a verify has run (for the report), else None."""
    path = run_dir / VERIFY_SUMMARY
    if not path.exists():
        return None
    with open_file(path) as fh:
        data = orjson.loads(fh.read())
    return data if isinstance(data, dict) else None


def read_verdicts(run_dir: Path) -> dict[int, str]:
    """line → verdict, from ``verify.jsonl`` (a torn last line left out); {}
    when no verify has run. Never takes the run's lock."""
    path = run_dir / VERIFY_LOG
    if not path.exists():
        return {}
    verdicts: dict[int, str] = {}
    for _, raw in read_lines(path):
        try:
            line = orjson.loads(raw)
            verdicts[int(line["line"])] = str(line["verdict"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
    return verdicts


def night_exit_code(run_dir: Path, summary: dict[str, Any], allowance: Any) -> int:
    """The exit code of a finished night with its verdicts read back
    (:func:`bulkupdate.night.exitcode.with_verdicts` says how they count)."""
    from ..night.exitcode import exit_code_of, with_verdicts
    from ..rundir.readback import read_results

    verdicts = read_verdicts(run_dir)
    judged = [(str(r["outcome"]), verdicts[r["line"]]) for r in read_results(run_dir)
              if r["line"] in verdicts]
    return exit_code_of(with_verdicts(summary, judged), allowance)
