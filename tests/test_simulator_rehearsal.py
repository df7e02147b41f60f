"""simulator/rehearsal.py: a world from the operator's own file, and what
`simulate` says at start (credentials, programs and tiers, a few customers)."""

from __future__ import annotations

import io
from pathlib import Path

import orjson

from bulkupdate.simulator import SimConfig
from bulkupdate.simulator.rehearsal import describe_rehearsal, world_from_input
from bulkupdate.simulator.world import World

NOW = 1.9e9


def update(customer: dict[str, object], program: str, tier: str) -> bytes:
    return orjson.dumps({"customer": customer, "partnerProgramUpdates": [
        {"partnerProgramName": program, "updateType": "UPGRADE",
         "updateDetails": {"updatedTierName": tier}}]})


def test_an_update_file_becomes_a_world_where_its_updates_apply(tmp_path: Path) -> None:
    src = tmp_path / "tonight.jsonl"
    src.write_bytes(b"\n".join([
        update({"mobile": "9740000001"}, "Coffee-Club", "Gold"),
        update({"email": "Ann@Example.com", "id": 7}, "Coffee-Club", "Silver"),
        update({"id": 7}, "Book-Club", "Reader"),
        b"not json"]) + b"\n")
    table = world_from_input(src)
    assert table["programs"] == {"Coffee-Club": ["Gold", "Silver"], "Book-Club": ["Reader"]}
    assert len(table["customers"]) == 2
    world = World(SimConfig(), table)
    # The national mobile is stored with the org's country code, found either way.
    assert world.locate({"mobile": "919740000001"}) == world.locate({"mobile": "9740000001"}) == 0
    assert world.apply_item(orjson.loads(update({"mobile": "9740000001"}, "Coffee-Club",
                                                "Gold")), NOW) == (1000, [200])
    assert world.apply_item(orjson.loads(update({"email": "ann@example.com"}, "Book-Club",
                                                "Reader")), NOW) == (1000, [200])
    assert world.apply_item(orjson.loads(update({"id": 8}, "Book-Club", "Reader")),
                            NOW)[0] == 8015
    assert world.apply_item(orjson.loads(update({"id": 7}, "Tea-Club", "Gold")),
                            NOW) == (1000, [2006])


def test_a_link_csv_becomes_a_world_where_nobody_is_linked_yet(tmp_path: Path) -> None:
    src = tmp_path / "links.csv"
    src.write_text("mobile;partnerProgramName;partnerTierName\n"
                   "919740000002;Coffee-Club;Gold\n")
    table = world_from_input(src)
    world = World(SimConfig(), table)
    assert world.link(0, "Coffee-Club") == (None, False)
    assert table["programs"] == {"Coffee-Club": ["Gold"]}


def test_the_banner_says_credentials_programs_and_customers() -> None:
    out = io.StringIO()
    config = SimConfig(customers=1000)
    describe_rehearsal(World(config), {"username": config.username, "password": config.password,
                             "client_key": "k", "client_secret": "s"}, out,
             base_url="http://127.0.0.1:9")
    text = out.getvalue()
    assert "CAPILLARY_USERNAME=demo-till CAPILLARY_PASSWORD=demo-pass" in text
    assert "program SPP_1: tiers Basic, Plus" in text
    assert "--base-url http://127.0.0.1:9" in text
    for kind in ("id", "mobile", "email", "externalId"):
        assert f"simulate:   {kind}: " in text


def test_the_operators_own_customers_are_counted_never_shown(tmp_path: Path) -> None:
    src = tmp_path / "tonight.jsonl"
    src.write_bytes(update({"mobile": "919740000009"}, "Coffee-Club", "Gold") + b"\n")
    out = io.StringIO()
    describe_rehearsal(World(SimConfig(), world_from_input(src)), {"username": None}, out,
                       mine=True)
    assert "1 customer, those of the input" in out.getvalue()
    assert "919740000009" not in out.getvalue()
    assert "program Coffee-Club: tiers Gold" in out.getvalue()


def test_a_rehearsal_world_delinks_its_own_programs(tmp_path: Path) -> None:
    from bulkupdate.simulator.delinking import delink_one

    src = tmp_path / "tonight.jsonl"
    src.write_bytes(update({"mobile": "9740000001"}, "Coffee-Club", "Gold") + b"\n")
    world = World(SimConfig(), world_from_input(src))
    i = world.locate({"mobile": "9740000001"})
    assert i is not None and world.link(i, "Coffee-Club")[0] == "Gold"
    assert delink_one(world, i, {"partnerProgramName": "Coffee-Club"}) == 200
    assert world.link(i, "Coffee-Club")[0] is None
    assert delink_one(world, i, {"partnerProgramName": "Coffee-Club"}) == 2004
    assert delink_one(world, i, {"partnerProgramName": "Apparel-Partner"}) == 2006
