"""answers.py: the classification table, row by row."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from bulkupdate.capillary.answers import Kind, classify, no_answer, parse_retry_after

ITEM = {"customer": {"mobile": "1", "status": {"status": True, "code": 1000}},
        "partnerProgramUpdates": []}


def body(n: int) -> bytes:
    return orjson.dumps({"customersPartnerUpdates": [ITEM] * n, "warnings": []})


def errors(code: int) -> bytes:
    return orjson.dumps({"errors": [{"code": code, "message": "m"}]})


@pytest.mark.parametrize("status", [200, 201, 400, 500, 503])
def test_per_item_body_is_definite_whatever_the_status(status: int) -> None:
    answer = classify(status, body(2), 2)
    assert answer.kind is Kind.DEFINITE
    assert answer.items is not None and len(answer.items) == 2


@pytest.mark.parametrize(("status", "payload", "kind", "fate_unknown"), [
    (401, errors(401), Kind.FATAL, False),
    (403, b"", Kind.FATAL, False),
    (413, b"", Kind.SPLIT, False),
    (400, errors(2008), Kind.SPLIT, False),
    (400, errors(1060), Kind.SPLIT, False),
    (429, errors(429), Kind.TRANSIENT, False),
    (461, b"busy", Kind.TRANSIENT, False),
    (521, errors(521), Kind.TRANSIENT, False),
    (503, b"", Kind.TRANSIENT, False),
    (502, b"<html>", Kind.TRANSIENT, True),
    (504, b"", Kind.TRANSIENT, True),
    (500, errors(500), Kind.TRANSIENT, True),
    (200, b'{"customersPartnerUpd', Kind.TRANSIENT, True),
    (200, b"{}", Kind.TRANSIENT, True),
    (400, errors(2002), Kind.BATCH, False),
    (404, b"404: Not Found", Kind.FATAL, False),
    (404, errors(404), Kind.FATAL, False),
    (405, b"", Kind.FATAL, False),
    (301, b"", Kind.FATAL, False),
    (307, body(3), Kind.FATAL, False),
    (308, b"", Kind.FATAL, False),
])
def test_table(status: int, payload: bytes, kind: Kind, fate_unknown: bool) -> None:
    answer = classify(status, payload, 3)
    assert answer.kind is kind
    assert answer.fate_unknown is fate_unknown
    assert answer.status == status


@pytest.mark.parametrize("count", [1, 2, 4])
def test_per_item_body_of_another_count_was_processed(count: int) -> None:
    """Items are matched by identity (outcomes.py): re-sending would apply again."""
    answer = classify(201, body(count), 3)
    assert answer.kind is Kind.DEFINITE and not answer.fate_unknown
    assert answer.items is not None and len(answer.items) == count
    assert f"{count} results for 3 records" in answer.reason


@pytest.mark.parametrize("payload", [
    orjson.dumps({"customersPartnerUpdates": ["x", "y", "z"]}),
    orjson.dumps({"customersPartnerUpdates": [ITEM, None, ITEM]}),
    body(3)[: len(body(3)) // 2],                                  # truncated
    orjson.dumps({"customersPartnerUpdates": []}),
])
def test_broken_per_item_bodies_keep_the_unknown_fate(payload: bytes) -> None:
    answer = classify(200, payload, 3)
    assert answer.kind is Kind.TRANSIENT and answer.fate_unknown


def test_429_is_throttling_and_carries_retry_after() -> None:
    answer = classify(429, errors(429), 5, "7")
    assert answer.throttled and answer.retry_after == 7.0


def test_retry_after_as_http_date() -> None:
    now = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Wed, 25 Nov 2026 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Wed, 25 Nov 2026 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("-3", now) is None


def test_no_answer_knows_whether_the_request_left() -> None:
    refused = no_answer("cannot connect", sent=False)
    assert refused.kind is Kind.TRANSIENT and refused.unreachable and not refused.fate_unknown
    lost = no_answer("timed out", sent=True)
    assert lost.fate_unknown and not lost.unreachable


def test_a_redirect_names_its_status_and_location_and_is_never_followed() -> None:
    answer = classify(308, b"", 3, location="http://elsewhere.example/v2/x")
    assert answer.kind is Kind.FATAL
    assert "308" in answer.reason and "http://elsewhere.example/v2/x" in answer.reason
    assert "never follows redirects" in answer.reason


def test_404_says_to_check_the_base_url() -> None:
    assert "check --base-url: the API root" in classify(404, b"", 3).reason
