"""The simulator's pure parts: the world, the response renderer, the fault dials,
the config and its flags. No event loop, no sockets."""

from __future__ import annotations

import argparse
import dataclasses
import random
from collections import Counter
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkupdate.simulator import SimConfig, World, add_simulate_arguments, config_from_args
from bulkupdate.simulator.cli import parse_rate_limit
from bulkupdate.simulator.faults import (
    FaultDecider,
    FaultPlan,
    SlidingWindow,
    max_window,
    retry_after_header,
)
from bulkupdate.simulator.render import render_update_response
from bulkupdate.simulator.world import IDENTIFIERS, MESSAGES, PROGRAM_NAMES, PROGRAMS

NOW = 1_800_000_000.0  # 2027-01-15: fixed so the rules do not depend on the clock


def test_identities_round_trip_through_every_identifier() -> None:
    world = World(SimConfig(customers=300_000))
    for i in (0, 1, 9, 10, 12345, 299_999):
        ident = world.directory.identity(i)
        assert ident == {"id": 100000 + i, "mobile": f"9197{i:08d}",
                         "email": f"user{i}@example.com", "externalId": f"X{i:08d}"}
        for key in IDENTIFIERS:
            assert world.locate({key: ident[key]}) == i
    assert world.locate({"id": 400_000}) is None  # beyond the world
    # As Capillary does: the forms people write find the stored customer.
    for mobile in ("+919700000001", "9700000001", "+91 97000-00001", "97000 00001"):
        assert world.locate({"mobile": mobile}) == 1, mobile
    assert world.locate({"email": "User1@Example.COM"}) == 1
    assert world.locate({"mobile": "9800000001"}) is None  # not a 97 number of this world
    assert world.locate({"mobile": "19700000001"}) is None  # another country's code
    assert world.locate({"externalId": "X0000000001"}) is None  # leading zero, 10 digits
    assert world.locate({"email": "USER01@example.com"}) is None
    assert world.locate({"mobile": "9197" + "\u0660" * 7 + "\u0661"}) is None  # Arabic digits
    assert world.locate({"id": True}) is None


def test_links_tiers_and_pending_relinks_follow_the_documented_proportions() -> None:
    world = World(SimConfig(customers=40_000, seed=3))
    for program in PROGRAM_NAMES:
        links = [world.link(i, program) for i in range(40_000)]
        share = sum(tier is not None for tier, _ in links) / len(links)
        assert 0.72 < share < 0.78, program
        tiers = Counter(tier for tier, _ in links if tier)
        assert set(tiers) == set(PROGRAMS[program])
        waiting = sum(p for _, p in links) / sum(tier is not None for tier, _ in links)
        if program == "SPP_1":
            assert 0.30 < waiting < 0.37
        else:
            assert waiting == 0


def test_the_world_is_a_function_of_the_seed() -> None:
    a, b, c = (World(SimConfig(customers=500, seed=s)) for s in (1, 1, 2))
    links = [[w.link(i, p) for i in range(500) for p in PROGRAM_NAMES] for w in (a, b, c)]
    assert links[0] == links[1] != links[2]


def test_changes_are_stored_per_customer_and_reset_forgets_them() -> None:
    world = World(SimConfig(customers=1000))
    i = next(i for i in range(1000) if world.link(i, "SPP_1")[1])
    item = {"customer": {"id": 100000 + i}, "partnerProgramUpdates": [
        {"partnerProgramName": "SPP_1", "updateType": "MEMBERSHIP_RELINKING_CANCELLED"},
        {"partnerProgramName": "SPP_1", "updateType": "UPGRADE",
         "updateDetails": {"updatedTierName": "Plus"}}]}
    before = world.link(i, "SPP_1")
    assert world.apply_item(item, NOW) == (1000, [200, 200])
    assert world.link(i, "SPP_1") == ("Plus", False)
    assert world.apply_item(item, NOW) == (1000, [2027, 200])
    world.reset()
    assert world.link(i, "SPP_1") == before
    assert world.applied == {}


def test_expiry_dates_are_compared_with_now() -> None:
    world = World(SimConfig(customers=100))
    i = next(i for i in range(100) if world.link(i, "Fuel-Partner")[0])

    def code(expiry: Any) -> int:
        update = {"partnerProgramName": "Fuel-Partner", "updateType": "RENEW",
                  "updateDetails": {"updatedTierName": "Gold", "updatedTierExpiryDate": expiry}}
        return world.apply_item({"customer": {"id": 100000 + i},
                                 "partnerProgramUpdates": [update]}, NOW)[1][0]

    assert code("2027-12-29T23:59:59+05:30") == 200
    assert code("2027-12-29T23:59:59Z") == 200
    assert code("2027-01-01T00:00:00+00:00") == 2003  # before NOW
    assert code("2027-02-30T00:00:00Z") == 2003
    assert code(20271229) == 2003
    assert code(None) == 200  # absent: the expiry stays as it was


# -- rendering ---------------------------------------------------------------------------------

def reference_body(world: World, items: list[Any], outcomes: list[tuple[int, list[int]]]) -> dict:
    """The response built the obvious way, as dicts: what render_update_response must equal."""
    statuses = {1000: {"status": True, "message": "Customer successfully retrieved",
                       "code": 1000},
                8015: {"status": False, "message": "Customer not found", "code": 8015},
                2002: {"status": False, "code": 2002,
                       "message": "Invalid Request: partnerProgramUpdates is empty"}}
    results = []
    for item, (customer_code, codes) in zip(items, outcomes, strict=True):
        customer = item.get("customer") if isinstance(item, dict) else None
        i = world.locate(customer)
        if i is None:
            echo = ({k: customer[k] for k in IDENTIFIERS if k in customer}
                    if isinstance(customer, dict) else {})
        else:
            echo = world.directory.identity(i)
        updates = item["partnerProgramUpdates"] if codes else []
        results.append({"customer": {**echo, "status": statuses[customer_code]},
                        "partnerProgramUpdates": [
                            {"partnerProgramName": u.get("partnerProgramName")
                             if isinstance(u, dict) else None,
                             "updateType": u.get("updateType") if isinstance(u, dict) else None,
                             "updateStatus": {"status": c == 200, "message": MESSAGES[c],
                                              "code": c}}
                            for u, c in zip(updates, codes, strict=True)]})
    return {"customersPartnerUpdates": results, "warnings": []}


# JSON bodies carry 64-bit integers at most (orjson refuses more, as would the API).
INT64 = st.integers(-(2**63), 2**63 - 1)
names = st.one_of(st.sampled_from([*PROGRAM_NAMES, "Nope", "", " "]), st.none(), INT64,
                  st.text(max_size=5), st.lists(INT64, max_size=2))
kinds = st.one_of(st.sampled_from(["UPGRADE", "DOWNGRADE", "RENEW", "MEMBERSHIP_RENEWAL_INITIATION",
                                   "MEMBERSHIP_RELINKING_CANCELLED", "upgrade"]),
                  st.none(), st.text(max_size=3))
details = st.one_of(st.none(), st.fixed_dictionaries({}, optional={
    "updatedTierName": st.sampled_from(["Gold", "Basic", "Nope", "", "Plus"]),
    "updatedTierExpiryDate": st.sampled_from(["2027-12-29T23:59:59+05:30", "2020-01-01",
                                              "garbage", "2030-01-01T00:00:00Z"])}))
updates = st.one_of(st.fixed_dictionaries({}, optional={
    "partnerProgramName": names, "updateType": kinds, "updateDetails": details}), INT64)
customers = st.one_of(
    st.builds(lambda i: {"id": 100000 + i}, st.integers(-2, 60)),
    st.builds(lambda i: {"mobile": f"9197{i:08d}", "email": ""}, st.integers(0, 60)),
    st.builds(lambda s: {"email": s}, st.text(max_size=8)),
    st.just({}), st.none(), st.just({"externalId": ["x"]}))
items = st.one_of(st.fixed_dictionaries({}, optional={
    "customer": customers, "partnerProgramUpdates": st.one_of(
        st.lists(updates, max_size=3), st.none(), st.just("x"))}), INT64)


@settings(max_examples=150, deadline=None)
@given(st.lists(items, min_size=1, max_size=8), st.booleans())
def test_rendered_text_equals_the_body_built_as_dicts(batch: list[Any], relinking: bool) -> None:
    world = World(SimConfig(customers=50, allow_relinking=relinking))
    located = [world.locate(it.get("customer")) if isinstance(it, dict) else None for it in batch]
    outcomes, ok, failed = world.apply_items(batch, NOW, located)
    body = orjson.loads(render_update_response(batch, located, outcomes, world.directory))
    assert body == reference_body(world, batch, outcomes)
    assert ok == sum(c.count(200) for _, c in outcomes)
    assert ok + failed >= len(batch)


# -- fault dials and meters ---------------------------------------------------------------------

def test_each_dial_fires_with_its_own_probability_from_one_draw() -> None:
    config = SimConfig(p_429=0.1, p_503=0.2, p_drop=0.05, p_slow=0.15)
    decider = FaultDecider(FaultPlan.from_config(config), 5)
    picks = Counter(decider.pick() for _ in range(20_000))
    for dial, p in (("p_429", 0.1), ("p_503", 0.2), ("p_drop", 0.05), ("p_slow", 0.15),
                    (None, 0.5)):
        assert abs(picks[dial] / 20_000 - p) < 0.015, dial
    again = FaultDecider(FaultPlan.from_config(config), 5)
    first = FaultDecider(FaultPlan.from_config(config), 5)
    assert [again.pick() for _ in range(100)] == [first.pick() for _ in range(100)]


def test_no_dials_no_draws_and_jitter_stays_within_bounds() -> None:
    decider = FaultDecider(FaultPlan.from_config(SimConfig(latency_ms=20, jitter_ms=5)), 1)
    assert decider.pick() is None
    delays = [decider.delay() for _ in range(1000)]
    assert min(delays) >= 0.015 and max(delays) <= 0.025
    assert FaultDecider(FaultPlan.from_config(SimConfig(latency_ms=20)), 1).delay() == 0.02


def test_sliding_window_admits_limit_per_period_and_says_when_a_slot_frees() -> None:
    window = SlidingWindow(3, 1.0)
    assert [window.admit(t) for t in (0.0, 0.1, 0.2)] == [0.0, 0.0, 0.0]
    assert window.admit(0.5) == pytest.approx(0.5)
    assert window.admit(1.0) == 0.0  # the arrival at 0.0 left the window
    assert window.admit(1.05) == pytest.approx(0.05)
    assert retry_after_header(0.05) == "1" and retry_after_header(59.2) == "60"
    assert retry_after_header(2.0) == "2"


def test_max_window_is_the_most_arrivals_in_any_window() -> None:
    assert max_window([], 1.0) == 0
    assert max_window([0.0, 0.5, 0.99, 1.0, 1.5, 1.9, 1.95], 1.0) == 5  # (0.95, 1.95]
    assert max_window([0.0, 1.0, 2.0], 1.0) == 1
    times = sorted(random.Random(2).uniform(0, 10) for _ in range(500))
    brute = max(sum(1 for u in times if t - 1.0 < u <= t) for t in times)
    assert max_window(times, 1.0) == brute


# -- config and flags -------------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "message"), [
    ({"p_503": 0.7, "p_500": 0.5}, "add up"),
    ({"p_drop": 1.5}, "probability"),
    ({"batch_error_code": 400}, "2008 or 1060"),
    ({"rate_period": 0}, "rate_period"),
    ({"customers": -1}, "customers"),
    ({"stall_ms": -1}, "stall_ms"),
])
def test_config_refuses_values_that_make_no_sense(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SimConfig(**kwargs)


def parse(*argv: str) -> SimConfig:
    parser = argparse.ArgumentParser()
    add_simulate_arguments(parser)
    return config_from_args(parser.parse_args(list(argv)))


def test_no_flags_give_the_default_config_and_every_field_has_a_flag() -> None:
    assert parse() == SimConfig()
    parser = argparse.ArgumentParser()
    add_simulate_arguments(parser)
    dests = {action.dest for action in parser._actions}
    for field in dataclasses.fields(SimConfig):
        assert field.name in dests or field.name == "username", field.name


def test_flags_set_their_fields() -> None:
    config = parse("--customers", "10", "--seed", "3", "--no-relinking", "--latency-ms", "5",
                   "--jitter-ms", "2", "--p-503", "0.1", "--p-drop", "0.05", "--rate-limit",
                   "100/min", "--max-batch", "20", "--batch-error-code", "1060", "--no-track",
                   "--fail-auth", "--no-auth", "--world", "w.json", "--slow-s", "1.5")
    assert config == SimConfig(customers=10, seed=3, allow_relinking=False, latency_ms=5,
                               jitter_ms=2, p_503=0.1, p_drop=0.05, rate_limit=100,
                               rate_period=60, max_batch=20, batch_error_code=1060,
                               track=False, fail_auth=True, username=None,
                               world_file="w.json", slow_s=1.5)


def test_stall_flags_set_their_fields() -> None:
    assert parse("--stall-every", "10", "--stall-ms", "150") == SimConfig(stall_every_s=10,
                                                                          stall_ms=150)


@pytest.mark.parametrize(("text", "rate"), [("5/s", (5, 1.0)), ("100/min", (100, 60.0)),
                                            ("7", (7, None)), ("2.5/sec", (2.5, 1.0))])
def test_rates_take_a_unit_or_mean_per_second(text: str, rate: tuple) -> None:
    assert parse_rate_limit(text) == rate


@pytest.mark.parametrize("text", ["fast", "5/hour", "-1/s"])
def test_bad_rates_are_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_rate_limit(text)
