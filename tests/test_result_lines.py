"""capillary/result.py: the typed result is what results.jsonl holds, byte for byte in
the key order every earlier version wrote, for each way a result is built."""

from __future__ import annotations

from typing import Any

import orjson

from bulkupdate.capillary.outcomes import (
    invalid,
    map_items,
    rejected_batch,
    retryable,
    unchanged,
)
from bulkupdate.capillary.result import RecordResult
from bulkupdate.source.validate import Invalid, Record


def rec(line: int, *, uncertain: bool = False) -> Record:
    return Record(line, b"{}", {"id": 7}, [("A", "UPGRADE"), ("B", "LINK")], ("id:7",),
                  ref="r", attempts=2, uncertain=uncertain)


def answer(*codes: int, found: bool = True, message: Any = "no") -> dict[str, Any]:
    return {"customer": {"id": 7, "status": {"status": found, "code": 1000 if found else 8015,
                                             "message": "ok" if found else "not found"}},
            "partnerProgramUpdates": [
                {"partnerProgramName": n, "updateType": t, "updateStatus": {
                    "status": c == 1000, "code": c, "message": message}}
                for (n, t), c in zip((("A", "UPGRADE"), ("B", "LINK")), codes, strict=True)]}


def line(result: RecordResult) -> bytes:
    return orjson.dumps(result.to_dict())


def test_each_kind_of_result_writes_its_keys_in_the_historic_order() -> None:
    [ok] = map_items([rec(1, uncertain=True)], [answer(1000, 2005)]).results
    assert line(ok) == (
        b'{"line":1,"ref":"r","outcome":"already","customer":{"id":7},"attempts":2,'
        b'"uncertain":true,"customerId":7,"programs":[{"partnerProgramName":"A",'
        b'"updateType":"UPGRADE","ok":true,"code":1000,"message":"no"},'
        b'{"partnerProgramName":"B","updateType":"LINK","ok":false,"code":2005,'
        b'"message":"already linked (2005): linked by the lost attempt or before this run",'
        b'"already":true,"likely_applied":true}]}')
    [gone] = map_items([rec(2)], [answer(8015, 8015, found=False)]).results
    assert line(gone).startswith(b'{"line":2,"ref":"r","outcome":"rejected","customer":'
                                 b'{"id":7},"attempts":2,"customerId":7,"code":8015,'
                                 b'"message":"not found","programs":[')
    assert line(retryable(rec(3), "HTTP 503")).startswith(
        b'{"line":3,"ref":"r","outcome":"retryable","customer":{"id":7},"attempts":2,'
        b'"error":"HTTP 503","programs":[{"partnerProgramName":"A","updateType":"UPGRADE",'
        b'"ok":false,"code":null,"message":"HTTP 503"}')
    assert line(rejected_batch(rec(4), None, "HTTP 400: bad")).startswith(
        b'{"line":4,"ref":"r","outcome":"rejected","customer":{"id":7},"attempts":2,'
        b'"code":null,"message":"HTTP 400: bad","programs":[')
    assert line(unchanged(rec(5), None)).startswith(
        b'{"line":5,"ref":"r","outcome":"unchanged","customer":{"id":7},"attempts":0,'
        b'"customerId":null,"programs":[')
    assert line(invalid(Invalid(6, "customer.id", "must be positive", "r"))) == (
        b'{"line":6,"ref":"r","outcome":"invalid","field":"customer.id",'
        b'"error":"must be positive","attempts":0}')


def test_a_line_read_back_is_the_result_that_was_written() -> None:
    results = [*map_items([rec(1, uncertain=True), rec(2)],
                          [answer(1000, 2005), answer(8015, 8015, found=False)]).results,
               retryable(rec(3), "x", uncertain=True), unchanged(rec(4), 9),
               invalid(Invalid(5, "json", "malformed"))]
    for result in results:
        assert RecordResult.from_line(orjson.loads(line(result))) == result


def test_an_answer_with_codes_and_messages_of_any_json_type_is_still_mapped() -> None:
    # Alike program results are shared within an answer; these cannot be keys.
    odd = answer(1000, 2004, message={"text": "no"})
    odd["partnerProgramUpdates"][1]["updateStatus"]["code"] = [2004]
    [result] = map_items([rec(1)], [odd]).results
    assert result.outcome == "partial"
    assert [p.code for p in result.programs] == [1000, [2004]]
    assert result.programs[0].message == {"text": "no"}
