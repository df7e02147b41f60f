"""rundir/errorfile.py: each record to fix becomes its input line plus "error",
runnable as it is; a partial one keeps only its rejected program updates."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import orjson

from bulkupdate.rundir.errorfile import csv_rows, error_item, reason
from bulkupdate.source.csvfile import iter_csv_records
from bulkupdate.source.validate import Record, validate_line

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ITEM = {"ref": "r-1", "customer": {"mobile": "919740000001"}, "partnerProgramUpdates": [
    {"partnerProgramName": "A", "updateType": "UPGRADE", "updateDetails": {"updatedTierName": "G"}},
    {"partnerProgramName": "B", "updateType": "RENEW", "updateDetails": {"updatedTierName": "S"}}]}
PARTIAL = {"line": 3, "outcome": "partial", "programs": [
    {"partnerProgramName": "A", "updateType": "UPGRADE", "ok": True, "code": 200},
    {"partnerProgramName": "B", "updateType": "RENEW", "ok": False, "code": 2004,
     "message": "Link the customer with the partner program"}]}


def test_a_partial_record_keeps_only_its_rejected_updates_with_why() -> None:
    why, which = reason(PARTIAL)
    assert why == "B: 2004 Link the customer with the partner program"
    item = error_item(orjson.dumps(ITEM), why, which, "partnerProgramUpdates")
    assert next(iter(item)) == "error" and item["ref"] == "r-1"
    assert [p["partnerProgramName"] for p in item["partnerProgramUpdates"]] == ["B"]


def test_the_error_line_runs_as_it_is_and_error_is_never_sent() -> None:
    item = error_item(orjson.dumps(ITEM), *reason(PARTIAL), "partnerProgramUpdates")
    record = validate_line(1, orjson.dumps(item), NOW)
    assert isinstance(record, Record)
    assert b"error" not in record.body and b"r-1" not in record.body


def test_invalid_and_rejected_reasons_name_the_field_or_code() -> None:
    assert reason({"outcome": "invalid", "field": "customer.id", "error": "must be positive"}) \
        == ("customer.id: must be positive", None)
    why, which = reason({"outcome": "rejected", "code": 8015, "message": "not found",
                         "programs": [{"partnerProgramName": "A", "ok": False, "code": 8015,
                                       "message": "not found"}]})
    assert why.startswith("customer: 8015 not found") and which is None


def test_a_line_that_is_not_json_comes_as_text_to_rewrite() -> None:
    assert error_item(b'{"customer":', "json: malformed", None, "partnerProgramUpdates") == \
        {"error": "json: malformed", "input": '{"customer":'}


def test_the_csv_view_keeps_identifiers_as_text_and_reads_back(tmp_path) -> None:
    columns = ("id", "mobile", "email", "externalId", "ref", "partnerProgramName",
               "updateType", "updatedTierName", "updatedTierExpiryDate", "error")
    item = error_item(orjson.dumps(ITEM), "why", None, "partnerProgramUpdates")
    rows = csv_rows(item, "partnerProgramUpdates", columns)
    assert rows[0][1] == '="919740000001"' and len(rows) == 2
    buf = io.StringIO()
    csv.writer(buf).writerows([columns, *rows])
    src = tmp_path / "errors.csv"
    src.write_text(buf.getvalue())
    [(_, raw)] = list(iter_csv_records(src))
    back = orjson.loads(raw)
    assert back["customer"] == {"mobile": "919740000001"} and back["ref"] == "r-1"
    assert [p["updateDetails"]["updatedTierName"] for p in back["partnerProgramUpdates"]] \
        == ["G", "S"]
