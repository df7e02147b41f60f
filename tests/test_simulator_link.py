"""The simulator's Link Customer API over real loopback HTTP: the documented
answer shape, each code, the future-dated relink, links that the update endpoint
then sees, the fault dials, and the stats that count links applied twice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson
from test_simulator import FOUND, FUTURE, WORLD, Client, find, linked, not_linked, pending, upgrade
from test_simulator import item as update_item

from bulkupdate.simulator import SimConfig, serve
from bulkupdate.simulator.world import PROGRAM_INDEX

LINK = "/v2/partnerProgram/linkCustomer"
PAST = "2020-01-01T00:00:00+05:30"
START_LATER = "2030-01-01T00:00:00+05:30"


def program(name: str = "Apparel-Partner", tier: str = "Gold", **reference: Any) -> dict:
    return {"partnerProgramName": name,
            "customerPartnerReference": {"partnerMembershipId": "M-1", "partnerTierName": tier,
                                         "partnerTierExpiryDate": FUTURE, **reference}}


def link_item(i: int, *programs: dict, key: str = "mobile") -> dict:
    return {"customer": {key: WORLD.directory.identity(i)[key]},
            "linkToPartnerPrograms": list(programs)}


def codes(body: dict) -> list[list[int]]:
    return [[p["partnerLinkStatus"]["code"] for p in it["linkToPartnerPrograms"]]
            for it in body["linkCustomers"]]


class LinkClient(Client):
    async def link(self, *items: dict) -> tuple[int, dict]:
        status, _, body = await self.post(
            raw=orjson.dumps({"linkCustomers": list(items)}), path=LINK)
        return status, orjson.loads(body)


@asynccontextmanager
async def running(**overrides: Any) -> AsyncIterator[LinkClient]:
    config = SimConfig(**{"customers": 2000, **overrides})
    async with serve(config) as sim, aiohttp.ClientSession() as session:
        yield LinkClient(sim, session)


async def test_a_new_link_answers_the_documented_shape_and_the_update_then_applies() -> None:
    i = find(not_linked("Apparel-Partner"))
    async with running() as client:
        status, body = await client.link(link_item(i, program(tier="Silver"), key="email"))
        assert client.sim.world.link(i, "Apparel-Partner") == ("Silver", False), body
        after, answer = await client.update(update_item(i, upgrade(tier="Gold")))
        stats = client.sim.stats()
    assert status == 200
    assert body == {"linkCustomers": [{
        "customer": {"id": 100000 + i, "mobile": f"9197{i:08d}", "email": f"user{i}@example.com",
                     "externalId": f"X{i:08d}", "status": FOUND},
        "linkToPartnerPrograms": [{"partnerProgramName": "Apparel-Partner", "partnerLinkStatus": {
            "status": True, "message": "Success", "code": 200}}]}], "warnings": []}
    assert after == 200, answer      # no more 2004
    assert stats["links_applied"] == 1 and stats["link_requests"] == 1
    assert stats["links_applied_twice"] == 0 and stats["links_resent"] == 0


async def test_each_refusal_has_its_documented_code() -> None:
    i = find(not_linked("Dining-Partner"))
    already = find(linked("Travel-Partner"))
    async with running() as client:
        status, body = await client.link(
            link_item(i, {"partnerProgramName": "Dining-Partner"},
                      program("Dining-Partner", tier=""),
                      program("Dining-Partner", partnerTierExpiryDate=PAST),
                      program("Dining-Partner", membershipStartDate="soon"),
                      program("No-Such-Partner"),
                      program("Dining-Partner", tier="Diamond")),
            link_item(already, program("Travel-Partner")),
            {"customer": {"mobile": "919800000001"},
             "linkToPartnerPrograms": [program(), program("Fuel-Partner")]},
            {"customer": {"id": 100000 + i}, "linkToPartnerPrograms": []})
    assert status == 400
    assert codes(body) == [[2002, 2002, 2003, 2002, 2006, 2007], [2005], [8015, 8015], []]
    assert body["linkCustomers"][2]["customer"]["status"]["code"] == 8015
    assert body["linkCustomers"][2]["customer"]["mobile"] == "919800000001"
    assert body["linkCustomers"][3]["customer"]["status"]["code"] == 2002
    assert body["linkCustomers"][1]["linkToPartnerPrograms"][0]["partnerLinkStatus"] == {
        "status": False, "message": "Customer is already linked to the partner program",
        "code": 2005}


async def test_a_mixed_answer_is_201_and_more_than_50_customers_is_2008() -> None:
    new = find(not_linked("Fuel-Partner"))
    old = find(linked("Fuel-Partner"))
    async with running() as client:
        status, body = await client.link(link_item(new, program("Fuel-Partner")),
                                         link_item(old, program("Fuel-Partner")))
        big, _, raw = await client.post(raw=orjson.dumps({"linkCustomers": [
            link_item(n, program()) for n in range(51)]}), path=LINK)
        empty, _, nothing = await client.post(raw=b'{"linkCustomers": []}', path=LINK)
    assert (status, codes(body)) == (201, [[200], [2005]])
    assert big == 400 and orjson.loads(raw)["errors"][0]["code"] == 2008
    assert empty == 400 and orjson.loads(nothing)["errors"][0]["code"] == 2002


async def test_a_future_start_on_a_linked_supplementary_program_queues_a_relink() -> None:
    i = find(lambda n: linked("SPP_1")(n) and not pending(n))
    async with running() as client:
        _, first = await client.link(link_item(i, program("SPP_1", tier="Plus")))
        _, queued = await client.link(
            link_item(i, program("SPP_1", tier="Plus", membershipStartDate=START_LATER)))
        assert client.sim.world.link(i, "SPP_1")[1]      # pending: a cancel has work now
        _, again = await client.link(
            link_item(i, program("SPP_1", tier="Plus", membershipStartDate=START_LATER)))
        _, cancelled = await client.update(update_item(i, {
            "partnerProgramName": "SPP_1", "updateType": "MEMBERSHIP_RELINKING_CANCELLED"}))
        stats = client.sim.stats()
    assert codes(first) == [[2005]]          # no future start: already linked
    assert codes(queued) == [[200]]
    assert codes(again) == [[2005]]          # one relink at a time
    assert cancelled["customersPartnerUpdates"][0]["partnerProgramUpdates"][0][
        "updateStatus"]["code"] == 200
    assert stats["links_applied"] == 1 and stats["links_applied_twice"] == 0


async def test_a_link_resent_counts_and_a_relink_on_top_of_it_is_applied_twice() -> None:
    i = find(not_linked("SPP_1"))
    entry = program("SPP_1", tier="Basic", membershipStartDate=START_LATER)
    async with running() as client:
        await client.link(link_item(i, entry))
        _, second = await client.link(link_item(i, entry))    # as a retry after a lost reply
        stats = client.sim.stats()
    assert codes(second) == [[200]]          # the API queues a relink: the hazard to count
    assert stats["links_applied_twice"] == 1
    assert client.sim.world.links[i, PROGRAM_INDEX["SPP_1"]] == 2


async def test_links_meet_auth_and_the_fault_dials() -> None:
    i = find(not_linked("Apparel-Partner"))
    async with running(p_lost=1.0) as client:
        for _ in range(2):   # the second as a client's retry after the first reply was lost
            try:
                await client.link(link_item(i, program()))
                raise AssertionError("a lost reply must not answer")
            except aiohttp.ClientError:
                pass
        stats = client.sim.stats()
        assert client.sim.world.link(i, "Apparel-Partner")[0] == "Gold"   # applied, then lost
    assert stats["faults"]["p_lost"] == 2 and stats["links_applied"] == 1
    assert stats["links_resent"] == 1 and stats["links_applied_twice"] == 0
    async with running(p_503=1.0) as client:
        status, _, _ = await client.post(
            raw=orjson.dumps({"linkCustomers": [link_item(i, program())]}), path=LINK)
        assert status == 503 and client.sim.stats()["links_applied"] == 0
    async with running() as client:
        status, _, _ = await client.post(
            raw=orjson.dumps({"linkCustomers": [link_item(i, program())]}), path=LINK,
            headers={})
        assert status == 401


async def test_p_not_now_defers_links_with_2010_or_2001() -> None:
    i = find(not_linked("Apparel-Partner"))
    async with running(p_not_now=1.0) as client:
        status, body = await client.link(link_item(i, program()))
        assert client.sim.world.link(i, "Apparel-Partner")[0] is None
    assert status == 400 and codes(body)[0][0] in (2010, 2001)
