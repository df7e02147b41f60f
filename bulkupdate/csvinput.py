"""CSV input, the second format: one row per *program update*, columns named like
the API fields. Consecutive rows for the same customer (and ref) form one record,
so a record's line number is that of its first row.

Columns: ``id``, ``mobile``, ``email``, ``externalId`` (one or more), ``ref``,
``partnerProgramName``, ``updateType``, ``updatedTierName``,
``updatedTierExpiryDate``. Each record becomes the same JSON a JSONL line would
be, and goes through the same validation.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from .api import IDENTIFIERS
from .errors import UsageError
from .inputfile import open_input

UPDATE_COLUMNS = ("partnerProgramName", "updateType", "updatedTierName", "updatedTierExpiryDate")
KNOWN = frozenset((*IDENTIFIERS, "ref", *UPDATE_COLUMNS))


def _record(row: dict[str, str]) -> tuple[tuple[str, ...], dict[str, Any], dict[str, Any]]:
    customer: dict[str, Any] = {}
    for name in IDENTIFIERS:
        value = (row.get(name) or "").strip()
        if value:
            customer[name] = int(value) if name == "id" and value.isdigit() else value
    update: dict[str, Any] = {"partnerProgramName": row.get("partnerProgramName") or "",
                              "updateType": row.get("updateType") or ""}
    details = {k: row[k] for k in ("updatedTierName", "updatedTierExpiryDate") if row.get(k)}
    if details:
        update["updateDetails"] = details
    key = (*(str(customer.get(n, "")) for n in IDENTIFIERS), row.get("ref") or "")
    return key, customer, update


def _dump(record: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(record)
    except TypeError:
        # Undecodable bytes (kept as surrogates): hand the validator bytes that are
        # not UTF-8 either, so the record is reported `invalid` on field "utf-8".
        text = json.dumps(record, ensure_ascii=False)  # orjson refuses surrogates
        return text.encode("utf-8", "surrogateescape")


def iter_csv_records(path: Path) -> Iterator[tuple[int, bytes]]:
    with open_input(path) as raw:
        # surrogateescape: a row with bytes that are not UTF-8 must become an
        # `invalid` record naming its line, not stop the run.
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="surrogateescape", newline="")
        reader = csv.DictReader(text)
        unknown = sorted(set(reader.fieldnames or ()) - KNOWN)
        if unknown:
            raise UsageError(f"{path}: unknown CSV column(s) {', '.join(unknown)}; known: "
                             f"{', '.join(sorted(KNOWN))}")
        current: tuple[int, tuple[str, ...], dict[str, Any]] | None = None
        for row in reader:
            line = reader.line_num  # physical line of the row's end
            if not any((v or "").strip() for v in row.values()):
                continue
            key, customer, update = _record(row)
            if current is not None and current[1] == key:
                current[2]["partnerProgramUpdates"].append(update)
                continue
            if current is not None:
                yield current[0], _dump(current[2])
            record: dict[str, Any] = {"customer": customer, "partnerProgramUpdates": [update]}
            if row.get("ref"):
                record["ref"] = row["ref"]
            current = (line, key, record)
        if current is not None:
            yield current[0], _dump(current[2])
