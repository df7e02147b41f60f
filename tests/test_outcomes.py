"""outcomes.py: the per-item booleans decide, positions are cross-checked."""

from __future__ import annotations

from typing import Any

import pytest

from bulkupdate.outcomes import Mismatch, map_items, not_now, retryable
from bulkupdate.validate import Record


def rec(line: int, customer: dict[str, Any], *programs: str) -> Record:
    return Record(line, b"{}", customer, [(p, "UPGRADE") for p in programs],
                  tuple(f"{k}:{v}" for k, v in customer.items()), ref=f"r{line}")


def item(customer: dict[str, Any], found: bool, *updates: tuple[str, bool, int]) -> dict:
    return {"customer": {**customer, "id": 77, "status": {
                "status": found, "code": 1000 if found else 8015,
                "message": "ok" if found else "Customer not found"}},
            "partnerProgramUpdates": [{"partnerProgramName": n, "updateType": "UPGRADE",
                                       "updateStatus": {"status": s, "code": c,
                                                        "message": "Success" if s else "no"}}
                                      for n, s, c in updates]}


def test_ok_partial_rejected_from_the_booleans() -> None:
    records = [rec(1, {"mobile": "1"}, "A"), rec(2, {"mobile": "2"}, "A", "B"),
               rec(3, {"mobile": "3"}, "A")]
    items = [item({"mobile": "1"}, True, ("A", True, 200)),
             item({"mobile": "2"}, True, ("A", True, 200), ("B", False, 2004)),
             item({"mobile": "3"}, True, ("A", False, 2007))]
    results = map_items(records, items)
    assert [r["outcome"] for r in results] == ["ok", "partial", "rejected"]
    assert results[1]["programs"][1] == {"partnerProgramName": "B", "updateType": "UPGRADE",
                                         "ok": False, "code": 2004, "message": "no"}
    assert results[0]["customerId"] == 77 and results[0]["ref"] == "r1"


def test_message_text_never_decides() -> None:
    it = item({"mobile": "1"}, True, ("A", False, 200))
    it["partnerProgramUpdates"][0]["updateStatus"]["message"] = "Success"
    assert map_items([rec(1, {"mobile": "1"}, "A")], [it])[0]["outcome"] == "rejected"


def test_customer_not_found_is_rejected_with_its_code() -> None:
    result = map_items([rec(1, {"mobile": "9"}, "A")],
                       [item({"mobile": "9"}, False)])[0]
    assert result["outcome"] == "rejected"
    assert result["code"] == 8015
    assert result["programs"][0]["code"] == 8015 and not result["programs"][0]["ok"]


@pytest.mark.parametrize("bad", [
    [item({"mobile": "2"}, True, ("A", True, 200))],          # another customer
    [item({"mobile": "1"}, True, ("Z", True, 200))],          # another program
    [item({"mobile": "1"}, True)],                            # program results missing
    [],                                                       # nothing for the record
    ["nonsense"],
])
def test_results_that_do_not_line_up_are_a_mismatch(bad: list[Any]) -> None:
    with pytest.raises(Mismatch):
        map_items([rec(1, {"mobile": "1"}, "A")], bad)


def test_uncertain_attempts_are_flagged() -> None:
    record = rec(1, {"mobile": "1"}, "A")
    record.uncertain, record.attempts = True, 3
    result = retryable(record, "timed out")
    assert result["outcome"] == "retryable" and result["uncertain"] and result["attempts"] == 3


def test_mismatch_message_masks_the_mobile_it_quotes() -> None:
    """The text reaches results.jsonl and events.jsonl: no raw mobile in it."""
    with pytest.raises(Mismatch) as caught:
        map_items([rec(1, {"mobile": "919740000001"}, "A")],
                  [item({"mobile": "919740001234"}, True, ("A", True, 200))])
    assert "919740001234" not in str(caught.value) and "1234" in str(caught.value)


def test_free_text_in_logs_is_masked() -> None:
    from bulkupdate.logs import mask_pii

    event = {"reason": "answer for mobile '919740001234' (ana@example.com)",
             "nested": ["+919740005678"], "line": 17, "run": "line 17 of 20000 records"}
    masked = mask_pii(event)
    assert "919740001234" not in masked["reason"] and "ana@" not in masked["reason"]
    assert masked["nested"] == ["*********5678"]
    assert masked["line"] == 17 and masked["run"] == event["run"]


@pytest.mark.parametrize(("updates", "code"), [
    ((("A", False, 2010),), 2010),
    ((("A", False, 2004), ("B", False, 2001)), 2001),
    ((("A", True, 200), ("B", False, 2010)), None),    # accepted: re-sending repeats it
    ((("A", False, 2004),), None),
    ((("A", True, 200),), None),
])
def test_not_now_only_when_nothing_was_accepted(updates: tuple, code: int | None) -> None:
    names = [u[0] for u in updates]
    result = map_items([rec(1, {"mobile": "1"}, *names)],
                       [item({"mobile": "1"}, True, *updates)])[0]
    assert not_now(result) == code


def cancel(line: int) -> Record:
    return Record(line, b"{}", {"mobile": "1"}, [("A", "MEMBERSHIP_RELINKING_CANCELLED")],
                  ("mobile:1",), ref=None)


def cancel_answer(code: int) -> dict:
    it = item({"mobile": "1"}, True, ("A", code == 200, code))
    it["partnerProgramUpdates"][0]["updateType"] = "MEMBERSHIP_RELINKING_CANCELLED"
    return it


def test_cancel_answered_2027_after_an_unknown_fate_is_most_likely_applied() -> None:
    record = cancel(1)
    record.uncertain = True
    result = map_items([record], [cancel_answer(2027)])[0]
    program = result["programs"][0]
    assert result["outcome"] == "rejected" and result["uncertain"]
    assert program["likely_applied"] and "most likely" in program["message"]


def test_cancel_answered_2027_on_a_clean_first_attempt_is_a_plain_rejection() -> None:
    program = map_items([cancel(1)], [cancel_answer(2027)])[0]["programs"][0]
    assert "likely_applied" not in program and program["message"] == "no"
