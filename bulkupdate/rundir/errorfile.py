"""``errors.jsonl`` and ``errors.csv``: what to fix and reload, in one place.

The input line of every ``rejected`` and ``invalid`` record — of a ``partial`` one,
only its rejected program updates — each with why in a top-level ``"error"``,
which ``run`` and ``validate`` accept and ignore: the file can be edited and run
as it is (Salesforce Data Loader's error file: the original row and its reason).
``errors.csv`` is the same in ``run``'s own CSV format, one row per program
update, identifiers written ``="919740000000"`` so a spreadsheet keeps them as
text (the CSV reader takes that form back).

A line that was not JSON at all cannot carry a key: it comes as
``{"error": ..., "input": "<the line as text>"}``, to be rewritten.

Built at the end of each session, like ``retry.jsonl``, from the input and the
reasons the results file kept as it wrote (or, on resume, re-read) each result:
a byte a line (:class:`Reasons`: the index of its reason in a shared table), the
input streamed.
"""

from __future__ import annotations

import os
import sys
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..base.api import DELINK_PROGRAMS_KEY, LINK_PROGRAMS_KEY, LINK_REFERENCE_KEYS
from ..capillary.result import Outcome, RecordResult
from ..source.lines import iter_lines
from .errorlines import HEAD_COLUMNS, ErrorLines
from .private import open_file

ERRORS = "errors.jsonl"
ERRORS_CSV = "errors.csv"
TO_FIX = ("rejected", "invalid", "partial")
UPDATE_COLUMNS = ("partnerProgramName", "updateType", "updatedTierName", "updatedTierExpiryDate")
LINK_COLUMNS = ("partnerProgramName", *LINK_REFERENCE_KEYS)
# api → (the key of a record's programs, the CSV columns of one), as ``run`` reads them.
PROGRAMS = {"update": ("partnerProgramUpdates", UPDATE_COLUMNS),
            "link": (LINK_PROGRAMS_KEY, LINK_COLUMNS),
            "delink": (DELINK_PROGRAMS_KEY, ("partnerProgramName",))}
CHUNK = 1024   # error lines written at once
KNOWN = 10_000   # distinct answers remembered with their reasons, at most

Failed = tuple[str, frozenset[tuple[str, str]] | None]   # (why, failed programs; None: all)
END: tuple[int, Failed] = (sys.maxsize, ("", None))   # past the last line to fix


def reason(result: RecordResult) -> Failed:
    """Why a record is to be fixed, and which of its programs (None: the record)."""
    if result.outcome is Outcome.INVALID:
        return f"{result.field}: {result.error}", None
    failed = [p for p in result.programs if not p.ok]
    whys = [f"{p.name}: {p.code} {p.message}".strip() for p in failed]
    rejected = result.outcome is Outcome.REJECTED
    if rejected and result.message is not None and result.code is not None:
        whys.insert(0, f"customer: {result.code} {result.message}".strip())
    which = None if rejected else frozenset((p.name, p.update_type) for p in failed)
    return "; ".join(dict.fromkeys(whys)) or result.outcome._value_, which


class Reasons:
    """Line → why it is to fix, in a byte a line: the index of its (why, failed
    programs) in a table the lines share (a night of 1,250,000 rejected lines holds
    a handful of reasons). Two bytes a line past 255 reasons; past 65,535, a dict
    again. A dict of a million lines took ~80 MB in a run whose memory is otherwise
    flat, and two bytes were most of what 5M lines added to 1M's peak.

    Kept by the results file as each result is written (or read back on resume),
    so the error files cost no second reading of ``results.jsonl``."""

    def __init__(self) -> None:
        self.table: list[Failed] = []
        self._index: dict[Failed, int] = {}
        self._by_line = array("B")
        self._more: dict[int, Failed] = {}
        self._known: dict[tuple[Any, ...], Failed] = {}
        self.count = 0

    def add(self, result: RecordResult) -> None:
        """``result``'s line, when it is one to fix: its reason found once for all the
        results alike (30,000 lines answered 2004 share one)."""
        if result.outcome._value_ not in TO_FIX:
            return
        if result.outcome is Outcome.INVALID:
            self.put(result.line, reason(result))
            return
        key = (result.outcome, result.code, result.message,
               tuple([p.encoded for p in result.programs]))
        failed = self._known.get(key)
        if failed is None:
            failed = reason(result)
            if len(self._known) < KNOWN:
                self._known[key] = failed
        self.put(result.line, failed)

    def put(self, line: int, failed: Failed) -> None:
        by_line = self._by_line
        if line >= len(by_line):   # grown in steps: lines come roughly in order
            by_line.frombytes(bytes(by_line.itemsize * (line + 1 - len(by_line) + 65_536)))
        if not by_line[line] and line not in self._more:
            self.count += 1
        k = self._index.get(failed)
        if k is None and len(self.table) < 0xFFFF:
            k = self._index[failed] = len(self.table)
            self.table.append(failed)
            if k == 0xFF:   # the 256th reason: two bytes a line from now on
                by_line = self._by_line = array("H", by_line)
        if k is None:
            self._more[line] = failed
            return
        by_line[line] = k + 1

    def get(self, line: int) -> Failed | None:
        if line < len(self._by_line):
            k = self._by_line[line]
            if k:
                return self.table[k - 1]
        return self._more.get(line)

    def __len__(self) -> int:
        return self.count

    def in_order(self) -> Iterator[tuple[int, Failed]]:
        """(line, why) for every line, by line number."""
        table, more = self.table, sorted(self._more.items())
        k = 0
        for line, index in enumerate(self._by_line):
            if index:
                while k < len(more) and more[k][0] < line:
                    yield more[k]
                    k += 1
                yield line, table[index - 1]
        yield from more[k:]


def write_errors(run_dir: Path, input_path: Path, todo: Reasons, api: str = "update") -> int:
    """Write ``errors.jsonl`` and ``errors.csv`` for the lines ``todo`` names;
    returns how many records they hold. Neither file is left when there is nothing
    to fix (and then the input is not read)."""
    paths = (run_dir / ERRORS, run_dir / ERRORS_CSV)
    if not todo:
        for path in paths:
            if path.exists():
                os.remove(path)
        return 0
    programs_key, program_columns = PROGRAMS.get(api, PROGRAMS["update"])
    columns = (*HEAD_COLUMNS, *program_columns, "error")
    lines = ErrorLines(api, programs_key, columns)
    tmp = [p.with_name(p.name + ".tmp") for p in paths]
    written = 0
    with open_file(tmp[0], "wb") as out, open_file(tmp[1], "wb") as out_csv:
        out_csv.write(lines.csv([list(columns)]).encode())
        chunk: list[bytes] = []
        chunk_csv: list[str] = []
        wanted = todo.in_order()
        want, failed = next(wanted, END)
        for line, raw in iter_lines(input_path, api=api):
            while want < line:   # a line to fix the input no longer has: nothing to write
                want, failed = next(wanted, END)
            if want != line:
                if want == END[0]:
                    break    # the last line to fix is written: the rest is not read
                continue
            data, text = lines.of(raw, *failed)
            want, failed = next(wanted, END)
            chunk.append(data)
            chunk_csv.append(text)
            written += 1
            if len(chunk) >= CHUNK:
                out.write(b"".join(chunk))
                out_csv.write("".join(chunk_csv).encode())
                chunk.clear()
                chunk_csv.clear()
        out.write(b"".join(chunk))
        out_csv.write("".join(chunk_csv).encode())
    for t, p in zip(tmp, paths, strict=True):
        os.replace(t, p)
    return written


def described(run_dir: Path, outcomes: dict[str, int]) -> dict[str, Any] | None:
    """What every report says of the error files: their names and what they hold
    (from the summary's counts); None when there are none."""
    if not (run_dir / ERRORS).exists():
        return None
    return {"file": str(run_dir / ERRORS), "csv": str(run_dir / ERRORS_CSV),
            **{outcome: outcomes.get(outcome, 0) for outcome in TO_FIX}}
