"""The pure parts of verify: the read's answer, and a record against it."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from bulkupdate.capillary.read import ProgramState, ReadKind, classify_read, parse_instant
from bulkupdate.verify.verdict import Held, judge

ASKED = {"mobile": "919700000001"}


def answer(tier: str, expiry: str, customer: dict[str, str] | None = None) -> bytes:
    entry = {"partnerProgramDetails": {"partnerProgramName": "P1", "partnerTierName": tier,
                                       "partnerTierExpiryDate": expiry, "linked": True},
             "customerActivityHistory": []}
    if customer is not None:
        entry["customer"] = customer
    return orjson.dumps({"pagination": {}, "data": [entry], "warnings": [], "errors": []})


def update(kind: str = "UPGRADE", tier: str = "Gold",
           expiry: str = "2024-09-08T23:59:59+05:30") -> dict[str, object]:
    return {"partnerProgramUpdates": [{
        "partnerProgramName": "P1", "updateType": kind,
        "updateDetails": {"updatedTierName": tier, "updatedTierExpiryDate": expiry}}]}


def test_expiry_compared_as_an_instant() -> None:
    read = classify_read(200, answer("Gold", "2024-09-08T18:29:59Z"), ASKED)
    assert read.kind is ReadKind.STATE and read.programs is not None
    assert judge(update(), Held(read.programs, read.complete)).verdict == "matches"


def test_differs_shows_asked_and_held() -> None:
    read = classify_read(200, answer("Silver", "2024-09-08T18:29:59Z"), ASKED)
    assert read.programs is not None
    verdict = judge(update(), Held(read.programs, read.complete))
    assert verdict.verdict == "differs"
    assert verdict.programs[0]["held"]["tier"] == "Silver"
    assert verdict.programs[0]["asked"]["tier"] == "Gold"


def test_no_read_shows_a_relink_cancel() -> None:
    read = classify_read(200, answer("Gold", "2024-09-08T18:29:59Z"), ASKED)
    assert read.programs is not None
    assert judge({"partnerProgramUpdates": [{"partnerProgramName": "P1",
                   "updateType": "MEMBERSHIP_RELINKING_CANCELLED"}]},
                 Held(read.programs)).verdict == "unverifiable"


def test_a_program_not_in_the_answer_is_unverifiable_for_an_update() -> None:
    read = classify_read(200, orjson.dumps({"data": []}), ASKED)
    assert read.programs == {} and read.complete
    assert judge(update(), Held(read.programs, read.complete)).verdict == "unverifiable"


def test_bad_answers_are_never_a_state() -> None:
    assert classify_read(200, b"not json", ASKED).kind is ReadKind.TRANSIENT
    other = answer("Gold", "2024-09-08T18:29:59Z", {"mobile": "919700000002"})
    assert classify_read(200, other, ASKED).kind is ReadKind.TRANSIENT
    missing = orjson.dumps({"data": [], "errors": [{"code": 8015, "message": "no"}]})
    assert classify_read(200, missing, ASKED).kind is ReadKind.NOT_FOUND
    assert classify_read(503, b"", ASKED).kind is ReadKind.TRANSIENT
    assert classify_read(429, b"", ASKED, "1").throttled
    assert classify_read(401, b"", ASKED).kind is ReadKind.FATAL


# -- a link run: linked, with the reference's tier and expiry -------------------

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def link(tier: str = "Gold", expiry: str = "2024-09-08T23:59:59+05:30",
         start: str | None = None) -> dict[str, object]:
    ref: dict[str, str] = {"partnerMembershipId": "M-1", "partnerTierName": tier,
                           "partnerTierExpiryDate": expiry}
    if start is not None:
        ref["membershipStartDate"] = start
    return {"customer": ASKED, "linkToPartnerPrograms": [
        {"partnerProgramName": "P1", "customerPartnerReference": ref}]}


def state(tier: str = "Gold", linked: bool | None = True) -> dict[str, ProgramState]:
    return {"P1": ProgramState(tier, parse_instant("2024-09-08T18:29:59Z"),
                               "2024-09-08T18:29:59Z", linked)}


def test_a_link_matches_when_linked_with_its_tier_and_expiry() -> None:
    read = classify_read(200, answer("Gold", "2024-09-08T18:29:59Z"), ASKED)
    assert read.programs is not None
    assert judge(link(), Held(read.programs, read.complete, NOW), "link").verdict == "matches"


def test_a_link_differs_on_another_tier_or_when_not_linked() -> None:
    assert judge(link(), Held(state("Silver")), "link").verdict == "differs"
    assert judge(link(), Held(state(linked=False)), "link").verdict == "differs"
    # Absent from an answer that lists all the customer's programs: not linked.
    assert judge(link(), Held({}, complete=True), "link").verdict == "differs"


def test_a_link_absent_from_a_full_answer_is_unverifiable() -> None:
    full = orjson.dumps({"data": [
        {"partnerProgramDetails": {"partnerProgramName": f"Q{k}", "linked": True}}
        for k in range(10)]})
    read = classify_read(200, full, ASKED)
    assert read.programs is not None and not read.complete
    assert judge(link(), Held(read.programs, read.complete), "link").verdict == "unverifiable"


def test_a_future_dated_link_is_a_pending_relink_no_read_shows() -> None:
    verdict = judge(link(start="2027-01-01T00:00:00+05:30"), Held(state(), True, NOW), "link")
    assert verdict.verdict == "unverifiable" and "pending relink" in verdict.reason


# -- a delink run: not linked ---------------------------------------------------

DELINK = {"customer": ASKED, "deLinkFromPartnerPrograms": [{"partnerProgramName": "P1"}]}


@pytest.mark.parametrize(("held", "verdict"), [
    (Held(state(linked=False)), "matches"),
    (Held({}, complete=True), "matches"),        # fewer than ten listed: not linked
    (Held({}, complete=False), "unverifiable"),  # ten listed: it may be the eleventh
    (Held(state(linked=True)), "differs"),
    (Held(state(linked=None)), "unverifiable"),
])
def test_a_delink_matches_when_not_linked(held: Held, verdict: str) -> None:
    judged = judge(DELINK, held, "delink")
    assert judged.verdict == verdict
    assert judged.programs[0]["updateType"] == "DELINK"


def test_a_record_without_the_runs_program_entries_is_unverifiable() -> None:
    assert judge(update(), Held(state()), "link").verdict == "unverifiable"
