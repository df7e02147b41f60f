"""The pure parts of verify: the read's answer, and a record against it."""

from __future__ import annotations

import orjson

from bulkupdate.capillary.read import ReadKind, classify_read
from bulkupdate.verify.verdict import judge

ASKED = {"mobile": "919700000001"}


def answer(tier: str, expiry: str, customer: dict[str, str] | None = None) -> bytes:
    entry = {"partnerProgramDetails": {"partnerProgramName": "P1", "partnerTierName": tier,
                                       "partnerTierExpiryDate": expiry, "linked": True},
             "customerActivityHistory": []}
    if customer is not None:
        entry["customer"] = customer
    return orjson.dumps({"pagination": {}, "data": [entry], "warnings": [], "errors": []})


def update(kind: str = "UPGRADE", tier: str = "Gold",
           expiry: str = "2024-09-08T23:59:59+05:30") -> list[dict[str, object]]:
    return [{"partnerProgramName": "P1", "updateType": kind,
             "updateDetails": {"updatedTierName": tier, "updatedTierExpiryDate": expiry}}]


def test_expiry_compared_as_an_instant() -> None:
    read = classify_read(200, answer("Gold", "2024-09-08T18:29:59Z"), ASKED)
    assert read.kind is ReadKind.STATE and read.programs is not None
    assert judge(update(), read.programs).verdict == "matches"


def test_differs_shows_asked_and_held() -> None:
    read = classify_read(200, answer("Silver", "2024-09-08T18:29:59Z"), ASKED)
    assert read.programs is not None
    verdict = judge(update(), read.programs)
    assert verdict.verdict == "differs"
    assert verdict.programs[0]["held"]["tier"] == "Silver"
    assert verdict.programs[0]["asked"]["tier"] == "Gold"


def test_no_read_shows_a_relink_cancel() -> None:
    read = classify_read(200, answer("Gold", "2024-09-08T18:29:59Z"), ASKED)
    assert read.programs is not None
    assert judge([{"partnerProgramName": "P1",
                   "updateType": "MEMBERSHIP_RELINKING_CANCELLED"}],
                 read.programs).verdict == "unverifiable"


def test_a_program_not_in_the_answer_is_unverifiable() -> None:
    read = classify_read(200, orjson.dumps({"data": []}), ASKED)
    assert read.programs == {}
    assert judge(update(), read.programs).verdict == "unverifiable"


def test_bad_answers_are_never_a_state() -> None:
    assert classify_read(200, b"not json", ASKED).kind is ReadKind.TRANSIENT
    other = answer("Gold", "2024-09-08T18:29:59Z", {"mobile": "919700000002"})
    assert classify_read(200, other, ASKED).kind is ReadKind.TRANSIENT
    missing = orjson.dumps({"data": [], "errors": [{"code": 8015, "message": "no"}]})
    assert classify_read(200, missing, ASKED).kind is ReadKind.NOT_FOUND
    assert classify_read(503, b"", ASKED).kind is ReadKind.TRANSIENT
    assert classify_read(429, b"", ASKED, "1").throttled
    assert classify_read(401, b"", ASKED).kind is ReadKind.FATAL
