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

Built at the end of each session from ``results.jsonl`` and the input, like
``retry.jsonl``: what an error line says is held in memory as two bytes a line
(:class:`Reasons`: the index of its reason in a shared table), the input streamed.
"""

from __future__ import annotations

import csv
import io
import os
import sys
from array import array
from pathlib import Path
from typing import Any

import orjson

from ..base.api import IDENTIFIERS, LINK_PROGRAMS_KEY, LINK_REFERENCE_KEYS
from ..source.lines import iter_lines
from .check import check_result, parse_json
from .files import RESULTS, read_lines
from .private import open_file

ERRORS = "errors.jsonl"
ERRORS_CSV = "errors.csv"
TO_FIX = ("rejected", "invalid", "partial")
TEXT_IDENTIFIERS = frozenset({"id", "mobile", "externalId"})   # digits a spreadsheet mangles
UPDATE_COLUMNS = ("partnerProgramName", "updateType", "updatedTierName", "updatedTierExpiryDate")
LINK_COLUMNS = ("partnerProgramName", *LINK_REFERENCE_KEYS)

Failed = tuple[str, frozenset[tuple[str, str]] | None]   # (why, failed programs; None: all)


def reason(result: dict[str, Any]) -> Failed:
    """Why a record is to be fixed, and which of its programs (None: the record)."""
    if result["outcome"] == "invalid":
        return f"{result.get('field')}: {result.get('error')}", None
    failed = [p for p in result.get("programs") or () if not p.get("ok")]
    whys = [f"{p.get('partnerProgramName')}: {p.get('code')} {p.get('message') or ''}".strip()
            for p in failed]
    if result.get("code") is not None and result["outcome"] == "rejected":
        whys.insert(0, f"customer: {result['code']} {result.get('message') or ''}".strip())
    which = None if result["outcome"] == "rejected" else frozenset(
        (str(p.get("partnerProgramName")), str(p.get("updateType"))) for p in failed)
    return "; ".join(dict.fromkeys(whys)) or result["outcome"], which


OUTCOME_KEY = b'"outcome":"'
FIX_MARKS = frozenset(o.encode() for o in TO_FIX)


def _to_fix(raw: bytes) -> bool:
    """Whether a line may be one to fix, from its bytes: the value after its first
    ``"outcome":"`` (a string value cannot hold those bytes unescaped), or True
    when there is none, and the parser judges."""
    at = raw.find(OUTCOME_KEY)
    if at < 0:
        return True
    at += len(OUTCOME_KEY)
    return raw[at:raw.find(b'"', at)] in FIX_MARKS


TAILS = 10_000   # distinct result tails remembered with their reasons, at most


class Reasons:
    """Line → why it is to fix, in two bytes a line: the index of its (why, failed
    programs) in a table the lines share (a night of 1,250,000 rejected lines holds
    a handful of reasons). A dict of a million lines took ~80 MB at the end of a run
    whose memory is otherwise flat; past 65,535 distinct reasons, a dict again."""

    def __init__(self) -> None:
        self.table: list[Failed] = []
        self._index: dict[Failed, int] = {}
        self._by_line = array("H")
        self._more: dict[int, Failed] = {}
        self.count = 0

    def put(self, line: int, failed: Failed) -> None:
        if self.get(line) is None:
            self.count += 1
        k = self._index.get(failed)
        if k is None and len(self.table) < 0xFFFF:
            k = self._index[failed] = len(self.table)
            self.table.append(failed)
        if k is None:
            self._more[line] = failed
            return
        if line >= len(self._by_line):   # grown in steps: lines come roughly in order
            self._by_line.frombytes(bytes(2 * (line + 1 - len(self._by_line) + 65_536)))
        self._by_line[line] = k + 1

    def get(self, line: int) -> Failed | None:
        if line < len(self._by_line):
            k = self._by_line[line]
            if k:
                return self.table[k - 1]
        return self._more.get(line)

    def __len__(self) -> int:
        return self.count


def fixable(run_dir: Path) -> Reasons:
    """Every line to fix, with why; reasons shared between lines (30,000 times 2004).
    A line whose bytes name none of those outcomes is not parsed: most are ``ok``;
    nor one whose tail (outcome, codes, messages, programs: all a reason reads) is
    that of a line already parsed: 30,000 lines answered 2004 share one."""
    shared: dict[str, str] = {}
    by_tail: dict[bytes, Failed] = {}
    out = Reasons()
    for where, raw in read_lines(run_dir / RESULTS):
        if not _to_fix(raw):
            continue
        tail = _tail(raw)
        known = by_tail.get(tail) if tail else None
        line = _line_of(raw) if known is not None else None
        if known is not None and line is not None:
            out.put(line, known)
            continue
        result = check_result(parse_json(raw, where), where, sys.maxsize)
        if result["outcome"] in TO_FIX:
            why, which = reason(result)
            failed = (shared.setdefault(why, why), which)
            out.put(result["line"], failed)
            if tail and len(by_tail) < TAILS:
                by_tail[tail] = failed
    return out


def _tail(raw: bytes) -> bytes:
    """The outcome and what follows the customer's own fields (``code``, ``message``,
    ``programs``: keys ``results.jsonl`` writes last), or b"" when the line has
    no such shape. No key inside a string matches: its quotes are escaped."""
    at = raw.find(b',"attempts":')
    programs = raw.find(b',"programs":', at)
    if at < 0 or programs < 0:
        return b""
    code = raw.find(b',"code":', at, programs)
    outcome = raw.find(OUTCOME_KEY)
    return raw[outcome:raw.find(b'"', outcome + len(OUTCOME_KEY)) + 1] + \
        raw[code if code >= 0 else programs:]


def _line_of(raw: bytes) -> int | None:
    """The line number of a results line as the ledger writes it (``line`` first)."""
    if not raw.startswith(b'{"line":'):
        return None
    number = raw[8:raw.find(b",", 8)]
    return int(number) if number.isdigit() and number.isascii() else None


def error_item(raw: bytes, why: str, which: frozenset[tuple[str, str]] | None,
               programs_key: str) -> dict[str, Any]:
    """The input item with ``error`` first, and only its failed programs."""
    try:
        item = orjson.loads(raw)
    except orjson.JSONDecodeError:
        item = None
    if not isinstance(item, dict):
        return {"error": why, "input": raw.decode("utf-8", "replace")}
    item.pop("error", None)
    programs = item.get(programs_key)
    if which is not None and isinstance(programs, list):
        item[programs_key] = [p for p in programs if isinstance(p, dict) and (
            str(p.get("partnerProgramName")), str(p.get("updateType", "LINK"))) in which]
    return {"error": why, **item}


def write_errors(run_dir: Path, input_path: Path, api: str = "update",
                 expected: int | None = None) -> int:
    """Write ``errors.jsonl`` and ``errors.csv``; returns how many records they hold.
    Neither file is left when there is nothing to fix (``expected``: the ledger's
    count of records to fix, when known: 0 reads nothing)."""
    todo = fixable(run_dir) if expected != 0 else Reasons()
    paths = (run_dir / ERRORS, run_dir / ERRORS_CSV)
    if not todo:
        for path in paths:
            if path.exists():
                os.remove(path)
        return 0
    programs_key = LINK_PROGRAMS_KEY if api == "link" else "partnerProgramUpdates"
    columns = (*IDENTIFIERS, "ref", *(LINK_COLUMNS if api == "link" else UPDATE_COLUMNS),
               "error")
    tmp = [p.with_name(p.name + ".tmp") for p in paths]
    written = 0
    with open_file(tmp[0], "wb") as out, open_file(tmp[1], "wb") as out_csv, \
            io.TextIOWrapper(out_csv, encoding="utf-8", newline="") as text:
        rows = csv.writer(text, lineterminator="\r\n")   # one writer: not one per row
        rows.writerow(columns)
        for line, raw in iter_lines(input_path, api=api):
            failed = todo.get(line)
            if failed is not None:
                item = error_item(raw, *failed, programs_key)
                out.write(orjson.dumps(item) + b"\n")
                rows.writerows(csv_rows(item, programs_key, columns))
                written += 1
    for t, p in zip(tmp, paths, strict=True):
        os.replace(t, p)
    return written


def csv_rows(item: dict[str, Any], programs_key: str,
             columns: tuple[str, ...]) -> list[list[str]]:
    """One row per program update, as ``run`` reads its CSV input."""
    customer = item.get("customer")
    if not isinstance(customer, dict):
        customer = {}
    head = {name: _text(name, customer.get(name)) for name in IDENTIFIERS}
    head["ref"] = str(item.get("ref") or "")
    head["error"] = str(item.get("error") or "")
    programs = item.get(programs_key)
    rows = []
    for program in programs if isinstance(programs, list) and programs else [{}]:
        flat = head
        if isinstance(program, dict):
            flat = head.copy()   # a program's own fields, then its details, over the head
            for key, value in program.items():
                if isinstance(value, str | int):
                    flat[key] = str(value)
            details = program.get("updateDetails") or program.get("customerPartnerReference")
            if isinstance(details, dict):
                for key, value in details.items():
                    if value is not None:
                        flat[key] = str(value)
        rows.append([flat.get(c, "") for c in columns])
    return rows


def _text(name: str, value: Any) -> str:
    """An identifier a spreadsheet would turn into a number, kept as text."""
    if value is None or value == "":
        return ""
    return f'="{value}"' if name in TEXT_IDENTIFIERS else str(value)


def described(run_dir: Path, outcomes: dict[str, int]) -> dict[str, Any] | None:
    """What every report says of the error files: their names and what they hold
    (from the summary's counts); None when there are none."""
    if not (run_dir / ERRORS).exists():
        return None
    return {"file": str(run_dir / ERRORS), "csv": str(run_dir / ERRORS_CSV),
            **{outcome: outcomes.get(outcome, 0) for outcome in TO_FIX}}
