"""decide.py: an answer and its records -> decisions, row by row. Pure: no loop,
no clock (``now`` is given), the retry policy's random source pinned."""

from __future__ import annotations

import random
from typing import Any

import pytest

from bulkupdate.base.endpoint import LINK, UPDATE
from bulkupdate.base.retry import RetryPolicy
from bulkupdate.capillary.answers import Answer, Kind, no_answer
from bulkupdate.engine.decide import (
    Abort,
    Bisect,
    Decision,
    Finish,
    LinedUp,
    Refused,
    Restored,
    Retry,
    Split,
    decide,
)
from bulkupdate.errors import ApiUnreachable, AuthFailed, Misconfigured
from bulkupdate.source.validate import Record

NOW = 1000.0
SENT = 999.0


def rec(line: int, attempts: int = 1, waited: float = 0.0) -> Record:
    return Record(line, b"{}", {"mobile": str(line)}, [("A", "UPGRADE")], (f"mobile:{line}",),
                  attempts=attempts, waited=waited)


def item(line: int, ok: bool = True, code: int = 200) -> dict[str, Any]:
    return {"customer": {"mobile": str(line), "status": {"status": True, "code": 1000}},
            "partnerProgramUpdates": [{"partnerProgramName": "A", "updateType": "UPGRADE",
                                       "updateStatus": {"status": ok, "code": code}}]}


def policy(**kw: Any) -> RetryPolicy:
    return RetryPolicy(**{"max_attempts": 3, "budget": 100.0, "base": 1.0, "cap": 8.0,
                          "settle": 60.0, "rng": random.Random(7), **kw})


def run(records: list[Record], answer: Answer, **kw: Any) -> list[Decision]:
    return decide(records, answer, sent_at=SENT, now=NOW, retry=kw.pop("retry", policy()),
                  batch_size=kw.pop("batch_size", 50), base_url="http://127.0.0.1:1", **kw)


def kinds(decisions: list[Decision]) -> list[str]:
    return [type(d).__name__ for d in decisions]


@pytest.mark.parametrize(("answer", "expected"), [
    (Answer(Kind.FATAL, 401, "HTTP 401"), ["Abort"]),
    (Answer(Kind.FATAL, 404, "HTTP 404"), ["Abort"]),
    (Answer(Kind.SPLIT, 413, "too large", code=2008), ["Split"]),
    (Answer(Kind.BATCH, 400, "bad", code=2002), ["Bisect"]),
    (Answer(Kind.TRANSIENT, 503, "HTTP 503"), ["Refused", "Retry"]),
    (Answer(Kind.TRANSIENT, 429, "HTTP 429", retry_after=2.0, throttled=True),
     ["Refused", "Retry"]),
    (no_answer("timed out", sent=True), ["Refused", "Retry"]),
    (Answer(Kind.DEFINITE, 200, "HTTP 200", items=[item(1), item(2)]),
     ["Restored", "Finish", "LinedUp"]),
])
def test_table(answer: Answer, expected: list[str]) -> None:
    assert kinds(run([rec(1), rec(2)], answer)) == expected


def test_deciding_changes_no_record() -> None:
    records = [rec(1, attempts=3), rec(2)]
    before = [(r.attempts, r.uncertain, r.waited) for r in records]
    run(records, no_answer("timed out", sent=True))
    run(records, Answer(Kind.SPLIT, 413, "too large"))
    assert [(r.attempts, r.uncertain, r.waited) for r in records] == before


def test_definite_answer_finishes_every_record_with_its_outcome() -> None:
    records = [rec(1), rec(2)]
    out = run(records, Answer(Kind.DEFINITE, 200, "HTTP 200",
                              items=[item(1), item(2, ok=False, code=2007)]))
    finish = out[1]
    assert isinstance(finish, Finish) and list(finish.records) == records
    assert [r["outcome"] for r in finish.results] == ["ok", "rejected"]
    assert out[2] == LinedUp(0, 2, "", 200)


def test_not_now_items_are_retried_alone_their_customers_held() -> None:
    records = [rec(1), rec(2)]
    out = run(records, Answer(Kind.DEFINITE, 200, "HTTP 200",
                              items=[item(1), item(2, ok=False, code=2010)]))
    assert kinds(out) == ["Restored", "Finish", "Refused", "Retry", "LinedUp"]
    finish, refused, retry = out[1], out[2], out[3]
    assert isinstance(finish, Finish) and [r["line"] for r in finish.results] == [1]
    assert refused == Refused(False, SENT, None, None)
    assert isinstance(retry, Retry) and list(retry.records) == [records[1]]
    assert not retry.uncertain and "code 2010" in retry.reason


def test_unknown_fate_waits_out_settle_and_marks_given_up_records_uncertain() -> None:
    records = [rec(1, attempts=1), rec(2, attempts=3)]   # the second has no attempt left
    out = run(records, no_answer("timed out", sent=True))
    assert kinds(out) == ["Refused", "Retry", "Finish"]
    retry, finish = out[1], out[2]
    assert isinstance(retry, Retry) and list(retry.records) == [records[0]]
    assert retry.uncertain and retry.delay >= SENT + 60.0 - NOW and retry.given_up == 1
    assert isinstance(finish, Finish) and finish.hold_until == SENT + 60.0
    (result,) = finish.results
    assert result["outcome"] == "retryable" and result["uncertain"] is True
    assert not records[1].uncertain      # the record itself: the pipeline marks it


def test_a_future_dated_link_of_unknown_fate_is_never_sent_again() -> None:
    """Sent again, it would queue a second relink if the first was applied."""
    once = Record(1, b"{}", {"mobile": "1"}, [("SPP_1", "LINK")], ("mobile:1",),
                  attempts=1, once=True)
    out = run([once, rec(2)], no_answer("timed out", sent=True))
    retry = next(d for d in out if isinstance(d, Retry))
    finish = next(d for d in out if isinstance(d, Finish))
    assert [r.line for r in retry.records] == [2]
    (result,) = finish.results
    assert result["outcome"] == "retryable" and result["uncertain"] is True
    assert "future-dated link" in result["error"]
    # An answer that says it was not applied (503): sent again like any other.
    out = run([once], Answer(Kind.TRANSIENT, 503, "HTTP 503"))
    assert [r.line for r in next(d for d in out if isinstance(d, Retry)).records] == [1]


@pytest.mark.parametrize(("record", "retry_after", "why"), [
    (rec(1, attempts=3), None, "HTTP 503"),
    (rec(1, waited=100.0), None, "retry budget of 100s used up"),
    (rec(1), 500.0, "Retry-After of 500s is beyond the retry budget left"),
])
def test_give_up_verdicts_say_why(record: Record, retry_after: float | None, why: str) -> None:
    out = run([record], Answer(Kind.TRANSIENT, 503, "HTTP 503", retry_after=retry_after))
    finish = out[-1]
    assert isinstance(finish, Finish)
    assert why in finish.results[0]["error"] and finish.hold_until == 0.0


def test_a_429_carries_its_throttle_facts_with_the_wait_capped() -> None:
    out = run([rec(1)], Answer(Kind.TRANSIENT, 429, "HTTP 429", retry_after=30.0,
                               throttled=True))
    assert out[0] == Refused(True, SENT, 8.0, 30.0)
    retry = out[1]
    assert isinstance(retry, Retry) and retry.delay >= 8.0


def test_unreachable_after_the_last_attempt_aborts_the_run() -> None:
    out = run([rec(1, attempts=3)], no_answer("cannot connect", sent=False))
    assert kinds(out) == ["Refused", "Abort"]
    abort = out[1]
    assert isinstance(abort, Abort) and isinstance(abort.error, ApiUnreachable)
    assert "http://127.0.0.1:1" in str(abort.error)


@pytest.mark.parametrize(("status", "error"), [(401, AuthFailed), (403, AuthFailed),
                                               (None, Misconfigured), (404, Misconfigured)])
def test_fatal_answers_abort_with_their_lines(status: int | None, error: type) -> None:
    (abort,) = run([rec(4), rec(5)], Answer(Kind.FATAL, status, "no"))
    assert isinstance(abort, Abort) and type(abort.error) is error
    assert abort.error.lines == (4, 5)


def test_split_halves_the_batch_size_and_gives_the_records_back() -> None:
    records = [rec(i) for i in range(1, 11)]
    (split,) = run(records, Answer(Kind.SPLIT, 413, "too large", code=2008), batch_size=50)
    assert split == Split(records, 5, 2008)


def test_a_single_record_refused_as_too_large_is_rejected_not_counted_as_an_attempt() -> None:
    out = run([rec(1, attempts=2)], Answer(Kind.SPLIT, 413, "too large", code=2008))
    assert kinds(out) == ["Split", "Finish"]
    finish = out[1]
    assert isinstance(finish, Finish)
    assert finish.results[0]["outcome"] == "rejected" and finish.results[0]["attempts"] == 1


def test_a_batch_refusal_bisects_until_one_record_owns_it() -> None:
    records = [rec(i) for i in range(1, 6)]
    (bisect,) = run(records, Answer(Kind.BATCH, 400, "bad", code=2002))
    assert bisect == Bisect((records[:2], records[2:]), 2002)
    (finish,) = run(records[:1], Answer(Kind.BATCH, 400, "bad", code=2002))
    assert isinstance(finish, Finish) and finish.results[0]["code"] == 2002


def test_items_that_do_not_line_up_are_counted() -> None:
    out = run([rec(1)], Answer(Kind.DEFINITE, 200, "HTTP 200", items=[item(9)]))
    lined = out[-1]
    assert isinstance(lined, LinedUp) and lined.unmatched == 1 and lined.mismatch


def test_the_link_endpoint_reads_its_own_names() -> None:
    link_item = {"customer": {"mobile": "1", "status": {"status": True, "code": 1000}},
                 "linkToPartnerPrograms": [{"partnerProgramName": "A",
                                            "partnerLinkStatus": {"status": True,
                                                                  "code": 200}}]}
    answer = Answer(Kind.DEFINITE, 200, "HTTP 200", items=[link_item])
    finish = run([rec(1)], answer, endpoint=LINK)[1]
    assert isinstance(finish, Finish) and finish.results[0]["outcome"] == "ok"
    assert isinstance(run([rec(1)], answer, endpoint=UPDATE)[-1], LinedUp)
    assert run([rec(1)], answer)[1].results[0]["outcome"] != "ok"  # type: ignore[union-attr]


def test_restored_comes_first_for_a_definite_answer() -> None:
    out = run([rec(1)], Answer(Kind.DEFINITE, 200, "HTTP 200", items=[item(1)]))
    assert out[0] == Restored()
