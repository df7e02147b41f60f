"""rundir/errorfile.py: each record to fix becomes its input line plus "error",
runnable as it is; a partial one keeps only its rejected program updates."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import orjson

from bulkupdate.results import RecordResult
from bulkupdate.rundir.errorfile import Reasons, csv_rows, error_item, reason
from bulkupdate.source.csvfile import iter_csv_records
from bulkupdate.source.validate import Record, validate_line

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ITEM = {"ref": "r-1", "customer": {"mobile": "919740000001"}, "partnerProgramUpdates": [
    {"partnerProgramName": "A", "updateType": "UPGRADE", "updateDetails": {"updatedTierName": "G"}},
    {"partnerProgramName": "B", "updateType": "RENEW", "updateDetails": {"updatedTierName": "S"}}]}
PARTIAL = RecordResult.from_line({"line": 3, "outcome": "partial", "programs": [
    {"partnerProgramName": "A", "updateType": "UPGRADE", "ok": True, "code": 200},
    {"partnerProgramName": "B", "updateType": "RENEW", "ok": False, "code": 2004,
     "message": "Link the customer with the partner program"}]})


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
    assert reason(RecordResult.from_line({"line": 1, "outcome": "invalid",
                                          "field": "customer.id", "error": "must be positive"})
                  ) == ("customer.id: must be positive", None)
    why, which = reason(RecordResult.from_line({
        "line": 2, "outcome": "rejected", "code": 8015, "message": "not found",
        "programs": [{"partnerProgramName": "A", "updateType": "UPGRADE", "ok": False,
                      "code": 8015, "message": "not found"}]}))
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


def test_reasons_keep_each_lines_why_in_two_bytes_a_line_and_share_the_whys() -> None:
    reasons = Reasons()
    rejected = ("Apparel-Partner: 2004 not linked", None)
    partial = ("Dining-Partner: 2007 no tier", frozenset({("Dining-Partner", "UPGRADE")}))
    for line in range(1, 300_001, 3):
        reasons.put(line, rejected if line % 2 else partial)
    assert len(reasons) == 100_000 and len(reasons.table) == 2
    assert reasons.get(1) == rejected and reasons.get(4) == partial
    assert reasons.get(2) is None and reasons.get(10**7) is None
    assert len(reasons._by_line) * 2 < 1_000_000     # bytes, whatever the lines' count


def test_reasons_past_the_table_still_answer_for_every_line() -> None:
    reasons = Reasons()
    for line in range(1, 70_001):                     # more distinct whys than 65,535
        reasons.put(line, (f"why {line}", None))
    assert len(reasons) == 70_000 and len(reasons.table) == 0xFFFF
    assert reasons.get(1) == ("why 1", None) and reasons.get(70_000) == ("why 70000", None)
    reasons.put(70_000, ("why 1", None))              # a line given again counts once
    assert len(reasons) == 70_000 and reasons.get(70_000) == ("why 1", None)
