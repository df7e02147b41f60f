"""matching.py: identifiers compared as the API reads them; the breaker's arithmetic."""

from __future__ import annotations

from typing import Any

import pytest

from bulkupdate.capillary.matching import Breaker, same_customer


@pytest.mark.parametrize(("sent", "got", "verdict"), [
    ({"id": 5}, {"id": 5}, True),
    ({"id": 5}, {"id": "5"}, True),
    ({"id": 5}, {"id": 6}, False),
    ({"id": 5}, {"id": True}, False),
    ({"mobile": "9740000000"}, {"mobile": "919740000000"}, True),
    ({"mobile": "919740000000"}, {"mobile": "9740000000"}, True),
    ({"mobile": "+1 415-555-0100"}, {"mobile": "14155550100"}, True),
    ({"mobile": "4155550100"}, {"mobile": "3524155550100"}, True),     # three-digit code
    ({"mobile": "4155550100"}, {"mobile": "13524155550100"}, False),   # four digits
    ({"mobile": "9740000000"}, {"mobile": "919740000001"}, False),
    ({"mobile": "12345"}, {"mobile": "9112345"}, False),               # too short to tell
    ({"email": "Ana@Example.com"}, {"email": "ana@example.com"}, True),
    ({"email": "ana@example.com"}, {"email": "ann@example.com"}, False),
    ({"externalId": "X1 "}, {"externalId": "X1"}, True),
    ({"externalId": "x1"}, {"externalId": "X1"}, False),               # case matters here
    ({"mobile": "9740000000", "email": ""}, {"email": "a@b.c", "mobile": "919740000000"}, True),
    ({"mobile": "9740000000"}, {"email": "a@b.c"}, None),              # nothing in common
    ({"mobile": "9740000000"}, None, None),
    ({"id": 5, "email": "a@b.c"}, {"id": 5, "email": "z@b.c"}, False),  # one disagrees
])
def test_same_customer(sent: dict[str, Any], got: Any, verdict: bool | None) -> None:
    assert same_customer(sent, got) is verdict


def test_breaker_trips_on_three_in_a_row() -> None:
    breaker = Breaker()
    assert [breaker.record(ok) for ok in (False, False, True, False, False)] == [False] * 5
    assert breaker.record(False) and breaker.why == "3 answers in a row"


def test_breaker_trips_on_more_than_half_of_the_last_twenty() -> None:
    breaker = Breaker()
    pattern = [False, False, True] * 7            # never three in a row
    trips = [breaker.record(ok) for ok in pattern[:16]]
    assert trips.index(True) == 15                # the 11th mismatch among 16 answers
    assert breaker.why == "11 of the last 16 answers"


def test_breaker_forgets_what_left_the_window() -> None:
    breaker = Breaker()
    for ok in [False, False, True] * 3 + [True] * 20:
        assert not breaker.record(ok)
    assert not breaker.record(False) and not breaker.record(False)


def test_breaker_is_wary_while_a_recent_answer_did_not_line_up() -> None:
    """Wary: the pipeline judges each answer before the next request leaves."""
    breaker = Breaker(window=4)
    assert not breaker.wary
    breaker.record(False)
    assert breaker.wary
    for _ in range(3):
        breaker.record(True)
    assert breaker.wary            # still among the last four
    breaker.record(True)
    assert not breaker.wary        # out of the window: the fast path again
