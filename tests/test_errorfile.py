"""rundir/errorfile.py: each record to fix becomes its input line plus "error",
runnable as it is; a partial one keeps only its rejected program updates."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkupdate.results import RecordResult
from bulkupdate.rundir.errorfile import Reasons, reason
from bulkupdate.rundir.errorlines import ErrorLines, csv_rows, error_item
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


def test_reasons_keep_each_lines_why_in_a_byte_a_line_and_share_the_whys() -> None:
    reasons = Reasons()
    rejected = ("Apparel-Partner: 2004 not linked", None)
    partial = ("Dining-Partner: 2007 no tier", frozenset({("Dining-Partner", "UPGRADE")}))
    for line in range(1, 300_001, 3):
        reasons.put(line, rejected if line % 2 else partial)
    assert len(reasons) == 100_000 and len(reasons.table) == 2
    assert reasons.get(1) == rejected and reasons.get(4) == partial
    assert reasons.get(2) is None and reasons.get(10**7) is None
    assert len(reasons._by_line) * reasons._by_line.itemsize < 400_000   # a byte a line


def test_reasons_past_the_table_still_answer_for_every_line() -> None:
    reasons = Reasons()
    for line in range(1, 70_001):                     # more distinct whys than 65,535
        reasons.put(line, (f"why {line}", None))
    assert len(reasons) == 70_000 and len(reasons.table) == 0xFFFF
    assert reasons.get(1) == ("why 1", None) and reasons.get(70_000) == ("why 70000", None)
    reasons.put(70_000, ("why 1", None))              # a line given again counts once
    assert len(reasons) == 70_000 and reasons.get(70_000) == ("why 1", None)


# The fast way (ErrorLines) writes what the general way writes, for any line.
_ids = st.fixed_dictionaries({}, optional={
    "id": st.integers(1, 10**9), "mobile": st.sampled_from(["919740000001", "9740000002"]),
    "email": st.sampled_from(["a@example.com", "B@x.org"]), "externalId": st.text(max_size=5)})
_program = st.fixed_dictionaries(
    {"partnerProgramName": st.sampled_from(["A", "B", "C"]),
     "updateType": st.sampled_from(["UPGRADE", "RENEW"])},
    optional={"updateDetails": st.fixed_dictionaries(
        {"updatedTierName": st.sampled_from(["Gold", "Silver", 'Q"uote'])},
        optional={"updatedTierExpiryDate": st.just("2027-06-30T23:59:59+05:30")}),
        "mobile": st.just("999"), "extra": st.integers(-(2**63), 2**63 - 1)})
_item = st.fixed_dictionaries(
    {"customer": _ids, "partnerProgramUpdates": st.lists(_program, min_size=1, max_size=3)},
    optional={"ref": st.text(max_size=4), "error": st.text(max_size=3)})
_which = st.one_of(st.none(), st.frozensets(st.tuples(st.sampled_from(["A", "B", "C"]),
                                                      st.sampled_from(["UPGRADE", "RENEW"]))))
COLUMNS = ("id", "mobile", "email", "externalId", "ref", "partnerProgramName", "updateType",
           "updatedTierName", "updatedTierExpiryDate", "error")
LINES = ErrorLines("update", "partnerProgramUpdates", COLUMNS, limit=64)


@settings(max_examples=400)
@given(item=_item, which=_which, order=st.permutations(range(4)), spaced=st.booleans(),
       why=st.sampled_from(["A: 2004 not linked", 'a,"b"', "two\r\nlines"]))
def test_the_fast_way_writes_what_the_general_way_writes(
        item: dict, which: frozenset | None, order: list[int], spaced: bool, why: str) -> None:
    keys = [k for k in [["customer", "partnerProgramUpdates", "ref", "error"][i] for i in order]
            if k in item]
    ordered = {k: item[k] for k in keys}
    raw = (json.dumps(ordered) if spaced else orjson.dumps(ordered).decode()).encode()
    line, text = LINES.of(raw, why, which)
    expected = error_item(raw, why, which, "partnerProgramUpdates")
    got = orjson.loads(line)
    assert line.endswith(b"\n") and got == expected and list(got) == list(expected)
    rows = io.StringIO()
    csv.writer(rows, lineterminator="\r\n").writerows(
        csv_rows(expected, "partnerProgramUpdates", COLUMNS))
    assert text == rows.getvalue()


def test_a_delink_errors_csv_names_each_program_to_delink_again(tmp_path) -> None:
    from bulkupdate.rundir.errorfile import write_errors
    src = tmp_path / "leavers.jsonl"
    src.write_bytes(b'{"customer":{"id":5},"deLinkFromPartnerPrograms":'
                    b'[{"partnerProgramName":"A"},{"partnerProgramName":"B"}]}\n')
    reasons = Reasons()
    reasons.put(1, ("B: 8015 not found", frozenset({("B", "DELINK")})))
    assert write_errors(tmp_path, src, reasons, "delink") == 1
    [error] = [orjson.loads(x) for x in (tmp_path / "errors.jsonl").read_bytes().splitlines()]
    assert error["deLinkFromPartnerPrograms"] == [{"partnerProgramName": "B"}]
    rows = list(csv.DictReader(io.StringIO((tmp_path / "errors.csv").read_text())))
    assert [(r["id"], r["partnerProgramName"], r["error"]) for r in rows] == \
        [('="5"', "B", "B: 8015 not found")]


def test_lines_alike_take_the_fast_way_and_share_their_program_part() -> None:
    lines = ErrorLines("update", "partnerProgramUpdates", COLUMNS)
    which = frozenset({("B", "RENEW")})
    for n in (1, 2):
        raw = orjson.dumps({"ref": f"r{n}", "customer": {"id": n},
                            "partnerProgramUpdates": ITEM["partnerProgramUpdates"]})
        assert lines._fast(raw, "why", which) is not None
    assert len(lines._parts) == 1
    with_error = orjson.dumps({"customer": {"id": 3}, "error": "old",
                               "partnerProgramUpdates": ITEM["partnerProgramUpdates"]})
    assert lines._fast(with_error, "why", which) is None      # the general way drops it
    assert orjson.loads(lines.of(with_error, "why", which)[0])["error"] == "why"


def test_reasons_come_in_line_order_with_those_past_the_table(tmp_path) -> None:
    from bulkupdate.rundir.errorfile import write_errors
    reasons = Reasons()
    for line in range(1, 70_001):                     # some beyond the 65,535 in the table
        reasons.put(line * 2, (f"why {line}", None))
    got = list(reasons.in_order())
    assert [line for line, _ in got] == list(range(2, 140_001, 2))
    assert got[-1] == (140_000, ("why 70000", None))
    src = tmp_path / "in.jsonl"   # lines 2 and 4 to fix; 3 blank; the last never read
    src.write_bytes(b'{"customer":{"id":1}}\n{"customer":{"id":2}}\n\n'
                    b'{"customer":{"id":4}}\n{"customer":{"id":5}}\n')
    few = Reasons()
    for line in (2, 3, 4):
        few.put(line, (f"why {line}", None))
    assert write_errors(tmp_path, src, few) == 2
    errors = [orjson.loads(x) for x in (tmp_path / "errors.jsonl").read_bytes().splitlines()]
    assert errors == [{"error": "why 2", "customer": {"id": 2}},
                      {"error": "why 4", "customer": {"id": 4}}]


def test_past_255_reasons_a_line_takes_two_bytes_and_keeps_its_own() -> None:
    reasons = Reasons()
    for line in range(1, 301):
        reasons.put(line, (f"why {line}", None))
    assert reasons._by_line.itemsize == 2 and len(reasons) == 300
    assert [reasons.get(n) for n in (1, 255, 256, 300)] == \
        [(f"why {n}", None) for n in (1, 255, 256, 300)]
