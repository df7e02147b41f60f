"""CSV input, the second format: one row per *program update*, columns named like
the API fields. Consecutive rows for the same customer (and ref) form one record,
so a record's line number is that of its first row.

Columns: ``id``, ``mobile``, ``email``, ``externalId`` (one or more), ``ref``,
``partnerProgramName``, ``updateType``, ``updatedTierName``,
``updatedTierExpiryDate``. Each record becomes the same JSON a JSONL line would
be, and goes through the same validation. The delimiter is the header's: a
comma, or the semicolon or tab Excel writes in many locales. A UTF-8 byte order
mark (Excel's default) is skipped; a row the CSV parser refuses, or one with more fields than
the header, is an ``invalid`` record naming its line, never the end of the run.

Link input (``api="link"``) has the same shape, one row per program to link to:
``partnerProgramName``, ``partnerMembershipId``, ``partnerTierName``,
``partnerTierExpiryDate``, ``membershipStartDate`` (docs/migrations.md).
Delink input (``api="delink"``): one row per program to delink from, its only
program column ``partnerProgramName`` (docs/delink.md).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from ..base.api import (
    DELINK_PROGRAMS_KEY,
    IDENTIFIERS,
    LINK_PROGRAMS_KEY,
    LINK_REFERENCE_KEYS,
)
from ..errors import UsageError
from .files import BOM, TOO_LONG, bounded_lines, open_input
from .validate import Unreadable, unreadable

UPDATE_COLUMNS = ("partnerProgramName", "updateType", "updatedTierName", "updatedTierExpiryDate")
# "error": errors.csv's reason column, accepted and ignored (rundir/errorfile.py).
KNOWN = frozenset((*IDENTIFIERS, "ref", "error", *UPDATE_COLUMNS))
# Link input (``api="link"``): one row per program to link to.
LINK_COLUMNS = ("partnerProgramName", *LINK_REFERENCE_KEYS)
LINK_KNOWN = frozenset((*IDENTIFIERS, "ref", "error", *LINK_COLUMNS))
DELINK_KNOWN = frozenset((*IDENTIFIERS, "ref", "error", "partnerProgramName"))
# Per API other than the update's: (known columns, the record's programs key).
APIS = {"link": (LINK_KNOWN, LINK_PROGRAMS_KEY), "delink": (DELINK_KNOWN, DELINK_PROGRAMS_KEY)}
DELIMITERS = (",", ";", "\t")      # in order of preference on a tie


def _record(row: dict[str, str], api: str = "update"
            ) -> tuple[tuple[str, ...], dict[str, Any], dict[str, Any]]:
    customer: dict[str, Any] = {}
    for name in IDENTIFIERS:
        value = (row.get(name) or "").strip()
        if value.startswith('="') and value.endswith('"'):
            value = value[2:-1].strip()    # ="919740000000": kept as text by a spreadsheet
        if value:
            # isascii: "²".isdigit() is True, and int("²") raises.
            customer[name] = int(value) if name == "id" and value.isascii() and \
                value.isdigit() else value
    update: dict[str, Any] = {"partnerProgramName": row.get("partnerProgramName") or ""}
    if api == "delink":
        pass   # a program to leave: its name is all there is
    elif api == "link":
        update["customerPartnerReference"] = {k: row[k] for k in LINK_REFERENCE_KEYS
                                              if row.get(k)}
    else:
        update["updateType"] = row.get("updateType") or ""
        details = {k: row[k] for k in ("updatedTierName", "updatedTierExpiryDate") if row.get(k)}
        if details:
            update["updateDetails"] = details
    key = (*(str(customer.get(n, "")) for n in IDENTIFIERS), row.get("ref") or "")
    return key, customer, update


def _dump(record: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(record)
    except TypeError:
        # Undecodable bytes (kept as surrogates), or an integer beyond 64 bits:
        # hand the validator what it will report `invalid` with the right field.
        text = json.dumps(record, ensure_ascii=False)  # orjson refuses surrogates
        return text.encode("utf-8", "surrogateescape")


class _TextLines:
    """Bounded physical lines as text for the CSV parser. An overlong one is
    noted in ``too_long`` and passed on as a blank line, keeping the numbering;
    ``number`` is the last line handed out (where a parser error happened)."""

    def __init__(self, fh: IO[bytes]) -> None:
        self._lines = bounded_lines(fh)
        self.number = 0
        self.too_long: list[int] = []

    def __iter__(self) -> Iterator[str]:
        for line in self._lines:
            self.number += 1
            if type(line) is Unreadable:
                self.too_long.append(self.number)
                yield "\n"
                continue
            if self.number == 1 and line.startswith(BOM):
                line = line[len(BOM):]
            # surrogateescape: a row with bytes that are not UTF-8 must become an
            # `invalid` record naming its line, not stop the run.
            yield line.decode("utf-8", "surrogateescape")


def iter_csv_records(path: Path, api: str = "update",
                     ignore: Collection[str] = ()) -> Iterator[tuple[int, bytes]]:
    """Records of a CSV file for the update API, or (``api="link"``) link items;
    ``ignore``: extra columns the user named (``--ignore-column``), left unread."""
    with open_input(path) as raw:
        lines = _TextLines(raw)
        reader = _reader(lines)
        _check_header(path, reader, lines, api, ignore)
        yield from _group(reader, lines, api)


def check_csv_header(path: Path, api: str = "update", ignore: Collection[str] = ()) -> None:
    """A header the run cannot use is a usage error: found before anything is sent."""
    with open_input(path) as raw:
        lines = _TextLines(raw)
        _check_header(path, _reader(lines), lines, api, ignore)


def write_without(path: Path, target: Path, ignore: Collection[str]) -> Path:
    """A copy of the CSV at ``path`` without the ``ignore`` columns, in ``target``:
    what a run with ``--ignore-column`` reads, so its resume, retry file and error
    file need not know. Row for row and line for line: a line break inside a
    dropped field becomes a blank line before its row (a record is numbered by
    its row's last line); the same delimiter; bytes not UTF-8 kept as they were."""
    from ..base.safefiles import open_file

    with open_input(path) as raw, open_file(target, "wb") as out:
        lines = _TextLines(raw)
        it = iter(lines)
        header = next(it, "")
        sep = delimiter(header)
        rows = csv.reader(itertools.chain((header,), it), delimiter=sep)
        names = next(rows, [])
        keep = [i for i, name in enumerate(names) if name not in set(ignore)]
        dropped = [i for i in range(len(names)) if i not in keep]
        buf = io.StringIO()
        writer = csv.writer(buf, delimiter=sep, lineterminator="\n")
        for row in itertools.chain((names,), rows):
            buf.write("\n" * sum(row[i].count("\n") for i in dropped if i < len(row)))
            writer.writerow([row[i] for i in keep if i < len(row)] + row[len(names):])
            out.write(buf.getvalue().encode("utf-8", "surrogateescape"))
            buf.seek(0)
            buf.truncate()
    return target


def delimiter(header: str) -> str:
    """The header says how the file is delimited: Excel writes ``;`` where the
    decimal separator is a comma, and "Unicode text" is tab-separated. The most
    frequent of the three wins, a comma on a tie (a one-column header has none)."""
    counts = {d: header.count(d) for d in DELIMITERS}
    return max(DELIMITERS, key=lambda d: counts[d])


def _reader(lines: _TextLines) -> csv.DictReader[str]:
    it = iter(lines)
    header = next(it, "")
    return csv.DictReader(itertools.chain((header,), it), delimiter=delimiter(header))


def _check_header(path: Path, reader: csv.DictReader[str], lines: _TextLines,
                  api: str = "update", ignore: Collection[str] = ()) -> None:
    known = (APIS[api][0] if api in APIS else KNOWN) | frozenset(ignore)
    try:
        columns = reader.fieldnames or ()
    except csv.Error as exc:
        raise UsageError(f"{path}: the CSV header cannot be read: {exc}") from None
    if lines.too_long and lines.too_long[0] == 1:
        raise UsageError(f"{path}: the CSV header line is too long")
    unknown = sorted(str(c) for c in set(columns) - known)
    if unknown and len(columns) == 1:
        found = next((repr(c) for c in "|:" if c in str(columns[0])), None)
        if found:
            raise UsageError(f"{path}: the CSV header is delimited by {found}: save the file "
                             "with commas (or semicolons or tabs) between the columns")
    absent = sorted(set(ignore) - {str(c) for c in columns})
    if absent:
        raise UsageError(f"{path}: --ignore-column {absent[0]}: the header has no such "
                         f"column (it has {', '.join(str(c) for c in columns)[:200]})")
    other = KNOWN if api == "link" else LINK_KNOWN
    if unknown and set(columns) <= other:
        command = "run" if api == "link" else "link"
        raise UsageError(f"{path}: its columns ({', '.join(unknown)[:200]} among them) are "
                         f"input for `bulkupdate {command}`: "
                         f"did you mean `bulkupdate {command} {path}`? Nothing was sent")
    if unknown:
        raise UsageError(f"{path}: unknown CSV column(s) {', '.join(unknown)[:200]}; "
                         f"known: {', '.join(sorted(known - frozenset(ignore)))}; to read "
                         f"the file without one, name it: --ignore-column {unknown[0]}")


def _group(reader: csv.DictReader[str], lines: _TextLines,
           api: str = "update") -> Iterator[tuple[int, bytes]]:
    """Consecutive rows of one customer (and ref) → one record."""
    programs = APIS[api][1] if api in APIS else "partnerProgramUpdates"
    too_long = lines.too_long
    current: tuple[int, tuple[str, ...], dict[str, Any]] | None = None
    while True:
        bad: Unreadable | None = None
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            bad = unreadable("csv", f"row cannot be read: {exc}")
            row = {}
        # The physical line of the row's end; of the refused line for a parser error.
        line = lines.number if bad is not None else reader.line_num
        if too_long or bad is not None or None in row:
            if current is not None:
                yield current[0], _dump(current[2])
                current = None
            while too_long:
                yield too_long.pop(0), unreadable("line", TOO_LONG)
            if bad is None and None in row:
                bad = unreadable("csv", "row has more fields than the header")
            if bad is not None:
                yield line, bad
                continue
        if not any((v or "").strip() for v in row.values()):
            continue
        key, customer, update = _record(row, api)
        if current is not None and current[1] == key:
            current[2][programs].append(update)
            continue
        if current is not None:
            yield current[0], _dump(current[2])
        record: dict[str, Any] = {"customer": customer, programs: [update]}
        if row.get("ref"):
            record["ref"] = row["ref"]
        current = (line, key, record)
    if current is not None:
        yield current[0], _dump(current[2])
    for number in too_long:
        yield number, unreadable("line", TOO_LONG)
