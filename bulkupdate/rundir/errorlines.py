"""One line of ``errors.jsonl`` and its rows of ``errors.csv``, from an input line
and why it is to be fixed. Pure.

The general way parses the line, drops its programs that did not fail and writes
it again (:func:`error_item`, :func:`csv_rows`). On a night where 44 % of the lines
are to fix, most of them partial, that took a fifth of the run's CPU (issue 22);
there the lines to fix differ in their customer and repeat their program updates,
so :class:`ErrorLines` does the program part once per kind of line, and per line
only splices its bytes and reads its customer. The same result, as JSON; whatever
the fast way cannot vouch for goes the general way.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson

from ..base.api import DELINK_TYPE, IDENTIFIERS, LINK_TYPE
from ..source.validate import members_before, tail_member

TEXT_IDENTIFIERS = frozenset({"id", "mobile", "externalId"})   # digits a spreadsheet mangles
HEAD_COLUMNS = (*IDENTIFIERS, "ref")       # what a row takes from the record, not a program
HEAD_AT = {name: at for at, name in enumerate(IDENTIFIERS)}
NO_IDENTIFIERS = ("",) * len(IDENTIFIERS)
# The type of a program entry that names none: a link's or a delink's.
ENTRY_TYPE = {"link": LINK_TYPE, "delink": DELINK_TYPE}

Which = frozenset[tuple[str, str]] | None   # the failed programs; None: all of them
# (the line's start with its "error", the tail as written, a CSV row end per program)
Part = tuple[bytes, bytes, list[str]]


def error_item(raw: bytes, why: str, which: Which, programs_key: str,
               entry_type: str = LINK_TYPE) -> dict[str, Any]:
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
        item[programs_key] = _failed(programs, which, entry_type)
    return {"error": why, **item}


def _failed(programs: list[Any], which: frozenset[tuple[str, str]],
            entry_type: str) -> list[Any]:
    return [p for p in programs if isinstance(p, dict) and (
        str(p.get("partnerProgramName")), str(p.get("updateType", entry_type))) in which]


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
            flat.update(_flat(program))
        rows.append([flat.get(c, "") for c in columns])
    return rows


def _flat(program: dict[str, Any]) -> dict[str, str]:
    """A program's own fields, then its details (``updateDetails``, or a link's
    ``customerPartnerReference``), as the CSV's columns."""
    flat = {key: str(value) for key, value in program.items() if isinstance(value, str | int)}
    details = program.get("updateDetails") or program.get("customerPartnerReference")
    if isinstance(details, dict):
        flat.update((key, str(value)) for key, value in details.items() if value is not None)
    return flat


def _text(name: str, value: Any) -> str:
    """An identifier a spreadsheet would turn into a number, kept as text."""
    if value is None or value == "":
        return ""
    return f'="{value}"' if name in TEXT_IDENTIFIERS else str(value)


class ErrorLines:
    """Error lines for one run's input: the general way, or the fast one.

    The fast way takes a line whose tail from the last ``"<programs key>":`` is
    that key's member and the object's end
    (:func:`~bulkupdate.source.validate.tail_member`, validation's own proof: the
    same tail, the same value), with no ``"error"`` member before it. What the failed programs make
    of a tail, in JSON and as the ends of CSV rows (written by the csv module once:
    quoting a long reason took most of a row's time), is kept per (tail, failed
    programs, why), bounded; the line's own part (customer, ``ref``) is read from
    the bytes before the tail, and its cells are joined to those ends, as the csv
    module joins a row's cells. A program entry holding a column of the record's
    own (an identifier, ``ref``, ``error``) takes the general way, which lets it
    win the cell."""

    def __init__(self, api: str, programs_key: str, columns: tuple[str, ...],
                 limit: int = 4096) -> None:
        self.programs_key = programs_key
        self.columns = columns
        self.entry_type = ENTRY_TYPE.get(api, LINK_TYPE)
        self.key = b'"' + programs_key.encode() + b'":'
        self.limit = limit
        self._program_columns = columns[len(HEAD_COLUMNS):-1]
        self._parts: dict[tuple[bytes, Which, str], Part | None] = {}
        self._text = io.StringIO()
        self._rows = csv.writer(self._text, lineterminator="\r\n")
        self._cells = csv.writer(self._text, lineterminator="")

    def csv(self, rows: list[list[str]], *, ended: bool = True) -> str:
        """``rows`` as ``errors.csv`` holds them (``ended``: each with its ``\\r\\n``)."""
        text = self._text
        text.seek(0)
        text.truncate()
        (self._rows if ended else self._cells).writerows(rows)
        return text.getvalue()

    def of(self, raw: bytes, why: str, which: Which) -> tuple[bytes, str]:
        """(the ``errors.jsonl`` line, the ``errors.csv`` rows), each with its end."""
        fast = self._fast(raw, why, which)
        if fast is not None:
            return fast
        item = error_item(raw, why, which, self.programs_key, self.entry_type)
        return (orjson.dumps(item) + b"\n",
                self.csv(csv_rows(item, self.programs_key, self.columns)))

    def _fast(self, raw: bytes, why: str, which: Which) -> tuple[bytes, str] | None:
        at = raw.rfind(self.key)
        # An "error" of the input's own would follow ours and win: the general way.
        if at <= 0 or raw[0] != 0x7B or raw.find(b'"error"', 0, at) >= 0:   # 0x7B: "{"
            return None
        key = (raw[at:], which, why)
        try:
            part = self._parts[key]
        except KeyError:
            part = self._made(key[0], which, why)
            if len(self._parts) >= self.limit:
                self._parts.clear()
            self._parts[key] = part
        if part is None:
            return None
        head = members_before(raw, at)
        try:
            own = orjson.loads(head) if head is not None else None
        except orjson.JSONDecodeError:
            return None
        if type(own) is not dict:
            return None
        customer = own.get("customer")
        if type(customer) is not dict:
            return None
        start, tail, ends = part
        ref = own.get("ref")
        own_cells = [*NO_IDENTIFIERS, str(ref) if ref else ""]   # as HEAD_COLUMNS
        for name, value in customer.items():   # most customers name one identifier
            column = HEAD_AT.get(name)
            if column is not None:
                own_cells[column] = _text(name, value)
        cells = self.csv([own_cells], ended=False)
        return (start + raw[1:at] + tail,
                cells + ends[0] if len(ends) == 1 else "".join([cells + end for end in ends]))

    def _made(self, tail: bytes, which: Which, why: str) -> Part | None:
        """The line's start with ``error``, the tail's JSON as written (only the
        failed programs, with the line's end), and each program's row end; None when
        the tail is not its key's member alone, or a program carries a column of the
        record's own."""
        found, programs = tail_member(tail, self.programs_key)
        if not found or not isinstance(programs, list) or not programs:
            return None
        if which is not None:
            programs = _failed(programs, which, self.entry_type)
        if not programs or not all(isinstance(p, dict) for p in programs):
            return None
        flats = [_flat(p) for p in programs]
        if any(not flat.keys().isdisjoint((*HEAD_COLUMNS, "error")) for flat in flats):
            return None
        written = orjson.dumps({self.programs_key: programs})[1:] + b"\n"   # '"key":[...]}'
        return (b'{"error":' + orjson.dumps(why) + b",", written,
                ["," + self.csv([[*(flat.get(c, "") for c in self._program_columns), why]])
                 for flat in flats])
