"""The link API through the same engine, unit by unit: the 2005 rule (outcomes),
the endpoint by the name a manifest records, the validator by API."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from bulkupdate.base.endpoint import LINK, UPDATE, endpoint_named
from bulkupdate.capillary.outcomes import map_items
from bulkupdate.simulator import SimConfig
from bulkupdate.simulator.linking import link_one
from bulkupdate.simulator.read import render_read, utc
from bulkupdate.simulator.world import World, expiry_epoch
from bulkupdate.source.validate import Record, SeenPrograms, validate_link_line, validator


def link(line: int) -> Record:
    return Record(line, b"{}", {"mobile": "1"}, [("A", "LINK")], ("mobile:1",), ref=None)


def answer(code: int) -> dict[str, Any]:
    ok = code == 200
    return {"customer": {"mobile": "1", "id": 7, "status": {"status": True, "code": 200,
                                                             "message": "ok"}},
            "linkToPartnerPrograms": [{"partnerProgramName": "A", "partnerLinkStatus": {
                "status": ok, "code": code, "message": "Success" if ok else "no"}}]}


def test_2005_after_an_unknown_fate_is_already_linked_by_it_or_before() -> None:
    record = link(1)
    record.uncertain = True
    result = map_items([record], [answer(2005)], LINK).results[0]
    program = result["programs"][0]
    assert result["outcome"] == "already" and result["uncertain"]
    assert program["likely_applied"] and not program["ok"]
    assert "linked by the lost attempt or before this run" in program["message"]


def test_2005_on_a_first_attempt_is_already_with_the_apis_message() -> None:
    result = map_items([link(1)], [answer(2005)], LINK).results[0]
    assert result["outcome"] == "already" and result["programs"][0]["already"]
    assert "likely_applied" not in result["programs"][0]
    assert result["programs"][0]["message"] == "no"


def test_another_refusal_after_an_unknown_fate_is_not_marked() -> None:
    record = link(1)
    record.uncertain = True
    program = map_items([record], [answer(2006)], LINK).results[0]["programs"][0]
    assert "likely_applied" not in program


def test_the_manifest_names_the_endpoint() -> None:
    assert endpoint_named("link") is LINK and endpoint_named("update") is UPDATE
    with pytest.raises(ValueError):
        endpoint_named("delete")


def test_the_validator_follows_the_api() -> None:
    assert validator("link") is validate_link_line
    update = validator("update")          # one of its own, remembering what lines share
    assert getattr(update, "__func__", None) is SeenPrograms.validate
    assert validator("update") is not update


def test_a_link_is_what_the_read_endpoint_then_shows() -> None:
    world = World(SimConfig(customers=200))
    i = next(i for i in range(200) if world.link(i, "Apparel-Partner")[0] is None)
    expiry = "2031-03-01T10:00:00+05:30"
    link_entry = {"partnerProgramName": "Apparel-Partner", "customerPartnerReference": {
        "partnerMembershipId": "M-1", "partnerTierName": "Silver",
        "partnerTierExpiryDate": expiry}}
    assert link_one(world, i, link_entry, time.time()) == 200
    shown = [d["partnerProgramDetails"] for d in orjson.loads(render_read(world, i))["data"]]
    apparel = next(p for p in shown if p["partnerProgramName"] == "Apparel-Partner")
    epoch = expiry_epoch(expiry)
    assert epoch is not None
    assert apparel["partnerTierName"] == "Silver"
    assert apparel["partnerTierExpiryDate"] == utc(epoch)
