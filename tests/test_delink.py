"""The delink API through the same engine, unit by unit: its validator, both
documented answer shapes, short answers, the ``already`` outcome and its note, the
plan and the ``--max-delinks`` guard, and the simulator's rules."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from bulkupdate.base.endpoint import DELINK, endpoint_named
from bulkupdate.base.retry import RetryPolicy
from bulkupdate.capillary.answers import Kind, classify
from bulkupdate.capillary.outcomes import map_items
from bulkupdate.engine.decide import Finish, LinedUp, OneAtATime, Retry, decide
from bulkupdate.errors import UsageError
from bulkupdate.night.exitcode import finished_exit_code
from bulkupdate.planning.delinks import MaxDelinks, check_max_delinks, delink_plan
from bulkupdate.simulator import SimConfig
from bulkupdate.simulator.delinking import DelinkBook, render_delink_response
from bulkupdate.simulator.world import World
from bulkupdate.source.validate import Invalid, Record, validate_delink_line, validator

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def delink_record(line: int, *programs: str) -> Record:
    return Record(line, b"{}", {"mobile": mobile(line)},
                  [(p, "DELINK") for p in programs or ("A",)], (f"mobile:{mobile(line)}",))


def mobile(line: int) -> str:
    return f"97400000{line:02d}"


def answered(line: int, *codes: int, shape: str = "delink") -> dict[str, Any]:
    key, status = (("deLinkFromPartnerPrograms", "partnerDeLinkStatus") if shape == "delink"
                   else ("partnerProgramUpdates", "updateStatus"))
    return {"customer": {"mobile": "91" + mobile(line), "status": {"status": True, "code": 1000}},
            key: [{"partnerProgramName": name, status: {"status": code == 200, "code": code,
                                                        "message": f"m{code}"}}
                  for name, code in zip("AB", codes or (200,), strict=False)]}


def body(items: list[dict[str, Any]], shape: str = "delink") -> bytes:
    key = "deLinkCustomers" if shape == "delink" else "customersPartnerUpdates"
    return orjson.dumps({key: items, "warnings": []})


# -- validate -------------------------------------------------------------------

def test_a_delink_record_names_only_programs() -> None:
    got = validate_delink_line(3, b'{"customer": {"mobile": "919740000001"}, "ref": "r", '
                                  b'"deLinkFromPartnerPrograms": [{"partnerProgramName": "A"}, '
                                  b'{"partnerProgramName": "B"}]}', NOW)
    assert isinstance(got, Record)
    assert got.programs == [("A", "DELINK"), ("B", "DELINK")] and got.ref == "r"
    assert b"ref" not in got.body and b"deLinkFromPartnerPrograms" in got.body
    assert validator("delink") is validate_delink_line


@pytest.mark.parametrize(("line", "field"), [
    (b'{"customer": {"mobile": "1"}, "deLinkFromPartnerPrograms": []}',
     "deLinkFromPartnerPrograms"),
    (b'{"customer": {"mobile": "1"}, "deLinkFromPartnerPrograms": [{"partnerProgramName": "A", '
     b'"customerPartnerReference": {}}]}', "deLinkFromPartnerPrograms[0].customerPartnerReference"),
    (b'{"customer": {"mobile": "1"}, "deLinkFromPartnerPrograms": [{"partnerProgramName": ""}]}',
     "deLinkFromPartnerPrograms[0].partnerProgramName"),
    (b'{"customer": {"mobile": "1"}, "deLinkFromPartnerPrograms": [{"partnerProgramName": "A"},'
     b' {"partnerProgramName": "A"}]}', "deLinkFromPartnerPrograms[1].partnerProgramName"),
    (b'{"customer": {"mobile": "1"}, "partnerProgramUpdates": []}', "partnerProgramUpdates"),
    (b'{"deLinkFromPartnerPrograms": [{"partnerProgramName": "A"}]}', "customer"),
])
def test_a_bad_delink_record_names_its_field(line: bytes, field: str) -> None:
    got = validate_delink_line(1, line, NOW)
    assert isinstance(got, Invalid) and got.field == field, got


# -- both answer shapes, matched like the update's ---------------------------------

@pytest.mark.parametrize("shape", ["delink", "update"])
def test_both_documented_answer_shapes_are_read(shape: str) -> None:
    records = [delink_record(1), delink_record(2, "A", "B")]
    answer = classify(200, body([answered(1, shape=shape), answered(2, 2004, 200, shape=shape)],
                                shape), 2, endpoint=DELINK)
    assert answer.kind is Kind.DEFINITE
    results = map_items(records, answer.items or [], DELINK.shaped(answer.shape)).results
    assert [r["outcome"] for r in results] == ["ok", "already"]
    assert [p["code"] for p in results[1]["programs"]] == [2004, 200]


def test_an_answer_of_neither_shape_does_not_line_up() -> None:
    answer = classify(200, b'{"somethingElse": [{"customer": {}}]}', 2, endpoint=DELINK)
    assert answer.kind is Kind.DEFINITE and answer.items == []
    decisions = decide([delink_record(1), delink_record(2)], answer, sent_at=0.0, now=1.0,
                       retry=policy(), batch_size=50, base_url="", endpoint=DELINK)
    finish = next(d for d in decisions if isinstance(d, Finish))
    assert [r["outcome"] for r in finish.results] == ["retryable", "retryable"]
    assert all(r["uncertain"] for r in finish.results)
    lined = next(d for d in decisions if isinstance(d, LinedUp))
    assert lined.unmatched == 2
    assert not any(isinstance(d, OneAtATime) for d in decisions)


def test_the_update_apis_answer_shape_stays_its_own() -> None:
    answer = classify(200, body([answered(1, shape="delink")]), 1,
                      endpoint=endpoint_named("update"))
    assert answer.kind is Kind.TRANSIENT   # a 200 without its per-item list: ask again


# -- already ------------------------------------------------------------------------

def test_2004_is_already_and_after_an_unknown_fate_says_it_cannot_tell() -> None:
    first = map_items([delink_record(1)], [answered(1, 2004)], DELINK).results[0]
    assert first["outcome"] == "already"
    program = first["programs"][0]
    assert program["already"] and not program["ok"] and program["message"] == "m2004"
    again = delink_record(1)
    again.uncertain = True
    noted = map_items([again], [answered(1, 2004)], DELINK).results[0]["programs"][0]
    assert noted["likely_applied"]
    assert noted["message"] == ("not linked (2004): delinked by the lost attempt or "
                                "before this run")


@pytest.mark.parametrize(("codes", "outcome"), [
    ((200, 2004), "already"),      # applied here, already there: done, not "ok"
    ((2004, 2004), "already"),
    ((2004, 2006), "partial"),
    ((200, 2006), "partial"),
    ((2006, 8015), "rejected"),
])
def test_a_records_outcome_from_its_programs(codes: tuple[int, int], outcome: str) -> None:
    result = map_items([delink_record(1, "A", "B")], [answered(1, *codes)], DELINK).results[0]
    assert result["outcome"] == outcome


def test_a_customer_not_found_is_rejected_not_already() -> None:
    item = answered(1, 8015)
    item["customer"]["status"] = {"status": False, "code": 8015, "message": "not found"}
    result = map_items([delink_record(1)], [item], DELINK).results[0]
    assert result["outcome"] == "rejected" and result["code"] == 8015


def test_already_counts_as_done_for_the_exit_code() -> None:
    summary = {"complete": True, "input_records": 10,
               "outcomes": {"ok": 4, "already": 6, "retryable": 0}}
    assert finished_exit_code(summary) == 0
    summary["outcomes"] = {"ok": 4, "already": 5, "rejected": 1}
    assert finished_exit_code(summary) == 1
    assert finished_exit_code(summary, "1") == 0


# -- short answers --------------------------------------------------------------------

def policy() -> RetryPolicy:
    return RetryPolicy(max_attempts=5, budget=100.0, base=1.0, cap=8.0, settle=60.0,
                       rng=random.Random(7))


def test_a_short_answer_settles_the_left_out_and_goes_one_at_a_time() -> None:
    records = [delink_record(n) for n in (1, 2, 3)]
    for record in records:
        record.attempts = 1
    answer = classify(200, body([answered(2)]), 3, endpoint=DELINK)
    decisions = decide(records, answer, sent_at=10.0, now=11.0, retry=policy(), batch_size=50,
                       base_url="", endpoint=DELINK)
    finish = next(d for d in decisions if isinstance(d, Finish))
    assert [r["line"] for r in finish.results] == [2]
    retry = next(d for d in decisions if isinstance(d, Retry))
    assert [r.line for r in retry.records] == [1, 3] and retry.uncertain
    assert retry.delay >= 60.0 - 1.0        # settled before it is sent again
    assert OneAtATime(1, 3) in decisions
    assert next(d for d in decisions if isinstance(d, LinedUp)).unmatched == 0


def test_a_short_answer_of_the_update_api_is_a_mismatch() -> None:
    update = endpoint_named("update")
    records = [Record(n, b"{}", {"mobile": str(n)}, [("A", "UPGRADE")], (f"mobile:{n}",))
               for n in (1, 2)]
    item = {"customer": {"mobile": "2", "status": {"status": True}}, "partnerProgramUpdates": [
        {"partnerProgramName": "A", "updateType": "UPGRADE", "updateStatus": {"status": True,
                                                                               "code": 200}}]}
    mapped = map_items(records, [item], update)
    assert mapped.unmatched == 1 and not mapped.left_out


# -- plan and guard ---------------------------------------------------------------------

def test_the_plan_counts_customers_and_memberships_once() -> None:
    plan = delink_plan([delink_record(1, "A", "B"), delink_record(1, "A"), delink_record(2, "A"),
                        Invalid(4, "customer", "missing")])
    assert (plan.customers, plan.programs, plan.invalid) == (2, 3, 1)
    assert plan.per_program == {"A": 2, "B": 1}
    assert "2 customers, 3 program memberships" in plan.sentence()


def test_max_delinks_refuses_a_larger_night() -> None:
    plan = delink_plan([delink_record(n) for n in range(5)])
    check_max_delinks(plan, MaxDelinks.parse("5"))
    with pytest.raises(UsageError, match="more than --max-delinks 4"):
        check_max_delinks(plan, MaxDelinks.parse(4))
    with pytest.raises(UsageError, match="no state store"):
        check_max_delinks(plan, MaxDelinks.parse("10%"))
    check_max_delinks(plan, MaxDelinks.parse("10%"), {"A": 50})
    with pytest.raises(UsageError, match="from A"):
        check_max_delinks(plan, MaxDelinks.parse("10%"), {"A": 49})
    for bad in ("-1", "x", "101%", "5.5"):
        with pytest.raises(UsageError, match="--max-delinks"):
            MaxDelinks.parse(bad)


# -- the simulator ------------------------------------------------------------------------

def test_the_simulator_delinks_and_counts_2004s_after_an_unknown_fate() -> None:
    world = World(SimConfig(customers=300))
    i = next(i for i in range(300) if world.link(i, "Apparel-Partner")[0])
    item = {"customer": {"id": 100_000 + i}, "deLinkFromPartnerPrograms": [
        {"partnerProgramName": "Apparel-Partner"}, {"partnerProgramName": "Nope"}]}
    book = DelinkBook()
    lost, _, _ = book.apply(world, [item], [i], delivered=False)
    assert lost == [(1000, [200, 2006])] and world.link(i, "Apparel-Partner")[0] is None
    again, ok, failed = book.apply(world, [item], [i], delivered=True)
    assert again == [(1000, [2004, 2006])] and (ok, failed) == (0, 2)
    assert book.fates.after_unknown == 1
    book.apply(world, [item], [i], delivered=True)
    assert book.fates.after_unknown == 1          # answered since: a plain 2004
    nobody, _, _ = book.apply(world, [item], [None], delivered=True)
    assert nobody == [(8015, [8015, 8015])]


@pytest.mark.parametrize("form", ["delink", "update"])
def test_the_simulators_answer_is_read_by_the_client(form: str) -> None:
    world = World(SimConfig(customers=300))
    i = next(i for i in range(300) if world.link(i, "Dining-Partner")[0])
    mobile = world.directory.identity(i)["mobile"]
    item = {"customer": {"mobile": mobile[2:]},
            "deLinkFromPartnerPrograms": [{"partnerProgramName": "Dining-Partner"}]}
    outcomes, _, _ = DelinkBook().apply(world, [item], [i], delivered=True)
    raw = render_delink_response([item], [i], outcomes, world, form=form)
    record = validate_delink_line(1, orjson.dumps(item), NOW)
    assert isinstance(record, Record)
    answer = classify(200, raw, 1, endpoint=DELINK)
    result = map_items([record], answer.items or [], DELINK.shaped(answer.shape)).results[0]
    assert result["outcome"] == "ok" and result["customerId"] == 100_000 + i
