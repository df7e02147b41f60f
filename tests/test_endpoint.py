"""endpoint.py: an endpoint is a value; the body, the answer's items and the URL follow it."""

from __future__ import annotations

import orjson

from bulkupdate.base.api import ENDPOINT
from bulkupdate.base.endpoint import LINK, UPDATE
from bulkupdate.capillary.answers import Kind, classify
from bulkupdate.engine.scheduler import chunk_bodies
from bulkupdate.source.validate import Record


def rec(n: int) -> Record:
    return Record(n, orjson.dumps({"n": n}), {"id": n}, [], (f"id:{n}",))


def test_update_is_the_api_used_today() -> None:
    assert UPDATE.path == ENDPOINT and UPDATE.body_key == "customersPartnerUpdates"
    assert UPDATE.programs_key == "partnerProgramUpdates" and UPDATE.has_update_type


def test_link_is_a_value_with_its_own_names() -> None:
    assert LINK.path == "/v2/partnerProgram/linkCustomer"
    assert (LINK.body_key, LINK.programs_key, LINK.status_key) == (
        "linkCustomers", "linkToPartnerPrograms", "partnerLinkStatus")
    assert not LINK.has_update_type


def test_the_body_is_under_the_endpoints_key() -> None:
    for endpoint in (UPDATE, LINK):
        body = orjson.loads(chunk_bodies([rec(1), rec(2)], endpoint))
        assert body == {endpoint.body_key: [{"n": 1}, {"n": 2}]}


def test_classify_reads_items_under_the_endpoints_key() -> None:
    item = {"customer": {"id": 1}}
    linked = orjson.dumps({"linkCustomers": [item]})
    assert classify(200, linked, 1, endpoint=LINK).kind is Kind.DEFINITE
    assert classify(200, linked, 1).kind is Kind.TRANSIENT   # not the update API's answer
    assert "link endpoint" in classify(404, b"", 1, endpoint=LINK).reason
