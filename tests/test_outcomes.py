"""outcomes.py: the per-item booleans decide; items match records by identity, then position."""

from __future__ import annotations

from typing import Any

import pytest

from bulkupdate.capillary.outcomes import map_items as mapped
from bulkupdate.capillary.outcomes import not_now, retryable
from bulkupdate.source.validate import Record


def map_items(records: list[Record], items: list[Any]) -> list[dict[str, Any]]:
    return mapped(records, items).results


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
    [{"nonsense": 1}],
])
def test_results_that_do_not_line_up_are_retryable_uncertain_and_final(bad: list[Any]) -> None:
    got = mapped([rec(1, {"mobile": "1"}, "A")], bad)
    assert got.unmatched == 1 and got.mismatch.startswith("line 1: ")
    result = got.results[0]
    assert result["outcome"] == "retryable" and result["uncertain"] is True
    assert "not sent again" in result["error"] and "detail" not in result


STORED = {"id": 382741349, "mobile": "919740000000", "email": "ana.bell@example.com",
          "externalId": "X9740000000"}


@pytest.mark.parametrize("sent", [
    {"mobile": "9740000000"},                  # no country code: the API adds it
    {"mobile": "+91 97400-00000"},             # plus, spaces, dashes
    {"mobile": "919740000000", "email": "", "externalId": ""},   # the API's own example
    {"email": "Ana.Bell@Example.COM"},         # another case
    {"externalId": " X9740000000 "},           # trimmed
    {"id": 382741349},
    {"id": 382741349, "email": "ANA.BELL@example.com"},
])
def test_an_answer_in_the_stored_form_matches_the_record(sent: dict[str, Any]) -> None:
    answer = item({}, True, ("A", True, 200))
    answer["customer"].update(STORED)
    answer["customer"]["id"] = STORED["id"]
    got = mapped([rec(1, sent, "A")], [answer])
    assert got.unmatched == 0 and got.results[0]["outcome"] == "ok"
    assert got.results[0]["customer"] == sent       # the ledger keeps what the input said


@pytest.mark.parametrize(("sent", "answered"), [
    ({"mobile": "9740000000"}, "929740000001"),       # another number, not a country code
    ({"mobile": "9740000000"}, "12349740000000"),     # four digits in front: not a code
    ({"mobile": "0000"}, "910000"),                   # too short to peel a code off
])
def test_mobiles_that_are_other_customers(sent: dict[str, Any], answered: str) -> None:
    got = mapped([rec(1, sent, "A")], [item({"mobile": answered}, True, ("A", True, 200))])
    assert got.unmatched == 1


def test_an_answer_in_another_order_matches_by_identity() -> None:
    records = [rec(k, {"mobile": f"97400000{k:02d}"}, "A", "B") for k in range(1, 6)]
    items = [item({"mobile": f"9197400000{k:02d}"}, True, ("B", k % 2 == 0, 200 if k % 2 == 0
                                                            else 2004), ("A", True, 200))
             for k in range(5, 0, -1)]
    got = mapped(records, items)
    assert got.unmatched == 0
    assert [r["line"] for r in got.results] == [1, 2, 3, 4, 5]
    assert [r["outcome"] for r in got.results] == ["partial", "ok", "partial", "ok", "partial"]
    assert [p["partnerProgramName"] for p in got.results[0]["programs"]] == ["A", "B"]
    assert got.results[0]["programs"][1]["code"] == 2004


def test_items_that_match_give_their_outcomes_when_others_do_not() -> None:
    records = [rec(1, {"email": "a@x.io"}, "A"), rec(2, {"email": "b@x.io"}, "A"),
               rec(3, {"email": "c@x.io"}, "A")]
    items = [item({"email": "C@X.IO"}, True, ("A", True, 200)),
             item({"email": "zed@x.io"}, True, ("A", True, 200)),
             item({"email": "A@x.io"}, True, ("A", False, 2007))]
    got = mapped(records, items)
    assert [r["outcome"] for r in got.results] == ["rejected", "retryable", "ok"]
    assert got.unmatched == 1
    assert got.mismatch == "line 2: sent email b***@x.io, answered email z***@x.io"
    assert got.results[1]["uncertain"] and "b***@x.io" in got.results[1]["error"]


def test_more_or_fewer_items_than_records_match_by_identity_only() -> None:
    records = [rec(1, {"id": 5}, "A"), rec(2, {"id": 6}, "A")]
    only_second = [item({}, True, ("A", True, 200))]
    only_second[0]["customer"]["id"] = 6
    got = mapped(records, only_second)
    assert [r["outcome"] for r in got.results] == ["retryable", "ok"] and got.unmatched == 1


def test_an_item_naming_nothing_sent_is_matched_by_position() -> None:
    records = [rec(1, {"mobile": "9740000001"}, "A"), rec(2, {"mobile": "9740000002"}, "A")]
    items = [item({"externalId": "E1"}, True, ("A", True, 200)),
             item({"externalId": "E2"}, False)]
    assert [r["outcome"] for r in map_items(records, items)] == ["ok", "rejected"]


def test_identity_comes_before_position() -> None:
    """An echo in another order: the item at record 1's position names record 2 by
    an identifier record 1 did not send; position must not give it to record 1."""
    records = [rec(1, {"email": "a@x.io"}, "A"), rec(2, {"mobile": "9740000002"}, "A")]
    for_2 = item({"mobile": "9740000002"}, True, ("A", True, 200))
    for_1 = item({"email": "a@x.io"}, True, ("A", False, 2004))
    got = mapped(records, [for_2, for_1])
    assert [r["outcome"] for r in got.results] == ["rejected", "ok"] and not got.unmatched


def test_two_results_for_the_same_program_are_taken_in_turn() -> None:
    record = Record(1, b"{}", {"id": 9}, [("A", "UPGRADE"), ("B", "RENEW"), ("A", "UPGRADE")],
                    ("id:9",), ref=None)
    answer = {"customer": {"id": 9, "status": {"status": True, "code": 1000}},
              "partnerProgramUpdates": [
                  {"partnerProgramName": n, "updateType": k,
                   "updateStatus": {"status": c == 200, "code": c, "message": ""}}
                  for n, k, c in (("B", "RENEW", 2007), ("A", "UPGRADE", 200),
                                  ("A", "UPGRADE", 2004))]}
    programs = map_items([record], [answer])[0]["programs"]
    assert [(p["partnerProgramName"], p["code"]) for p in programs] == [
        ("A", 200), ("B", 2007), ("A", 2004)]


def test_uncertain_attempts_are_flagged() -> None:
    record = rec(1, {"mobile": "1"}, "A")
    record.uncertain, record.attempts = True, 3
    result = retryable(record, "timed out")
    assert result["outcome"] == "retryable" and result["uncertain"] and result["attempts"] == 3


def test_mismatch_message_masks_the_mobile_it_quotes() -> None:
    """The text reaches results.jsonl and events.jsonl: no raw mobile in it."""
    got = mapped([rec(1, {"mobile": "919740000001"}, "A")],
                 [item({"mobile": "919740001234"}, True, ("A", True, 200))])
    for text in (got.mismatch, got.results[0]["error"]):
        assert "919740001234" not in text and "919740000001" not in text
        assert "sent mobile 91974\u2026, answered mobile 91974\u2026" in text


def test_free_text_in_logs_is_masked() -> None:
    from bulkupdate.base.logs import mask_pii

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


def test_cancel_answered_2027_after_an_unknown_fate_is_already_and_noted() -> None:
    record = cancel(1)
    record.uncertain = True
    result = map_items([record], [cancel_answer(2027)])[0]
    program = result["programs"][0]
    assert result["outcome"] == "already" and result["uncertain"]
    assert not program["ok"] and program["already"] and program["code"] == 2027
    assert program["likely_applied"]
    assert "cancelled by the lost attempt or before this run" in program["message"]


def test_cancel_answered_2027_on_a_clean_first_attempt_is_already_without_a_note() -> None:
    result = map_items([cancel(1)], [cancel_answer(2027)])[0]
    program = result["programs"][0]
    assert result["outcome"] == "already"
    assert "likely_applied" not in program and program["message"] == "no"
