"""The simulator over real loopback HTTP: answers, auth, batch limits, fault dials,
rate limit and the introspection endpoints."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson
import pytest

from bulkupdate.simulator import RunningSim, SimConfig, World, serve
from bulkupdate.simulator.faults import FaultDecider, FaultPlan
from tests.helpers import wait_until_async

PATH = "/v2/partnerProgram/customerPartnerProgramUpdate"
BASIC = {"Authorization": "Basic " + base64.b64encode(
    b"demo-till:" + hashlib.md5(b"demo-pass").hexdigest().encode()).decode()}
FUTURE = "2027-12-29T23:59:59+05:30"
OK = {"status": True, "message": "Success", "code": 200}
FOUND = {"status": True, "message": "Customer successfully retrieved", "code": 1000}
NOT_FOUND = {"status": False, "message": "Customer not found", "code": 8015}
CUSTOMERS = 2000
WORLD = World(SimConfig(customers=CUSTOMERS))


def find(pred: Callable[[int], bool], skip: int = 0) -> int:
    """The (skip+1)-th customer of the default world for which ``pred`` holds."""
    for i in range(CUSTOMERS):
        if pred(i):
            if not skip:
                return i
            skip -= 1
    raise LookupError("no such customer")


def linked(program: str) -> Callable[[int], bool]:
    return lambda i: WORLD.link(i, program)[0] is not None


def not_linked(program: str) -> Callable[[int], bool]:
    return lambda i: WORLD.link(i, program)[0] is None


def pending(i: int) -> bool:
    return WORLD.link(i, "SPP_1")[1]


def upgrade(program: str = "Apparel-Partner", tier: str = "Gold", **details: Any) -> dict:
    return {"partnerProgramName": program, "updateType": "UPGRADE",
            "updateDetails": {"updatedTierName": tier, **details}}


def cancel(program: str = "SPP_1") -> dict:
    return {"partnerProgramName": program, "updateType": "MEMBERSHIP_RELINKING_CANCELLED"}


def item(i: int, *updates: dict, key: str = "mobile") -> dict:
    return {"customer": {key: WORLD.directory.identity(i)[key]},
            "partnerProgramUpdates": list(updates)}


def codes(body: dict) -> list[list[int]]:
    return [[u["updateStatus"]["code"] for u in it["partnerProgramUpdates"]]
            for it in body["customersPartnerUpdates"]]


class Client:
    def __init__(self, sim: RunningSim, session: aiohttp.ClientSession) -> None:
        self.sim = sim
        self.session = session

    async def post(self, items: list[dict] | None = None, *, raw: bytes | None = None,
                   headers: dict[str, str] | None = None, path: str = PATH,
                   give_up_after: float | None = None) -> tuple[int, Any, bytes]:
        data = raw if raw is not None else orjson.dumps({"customersPartnerUpdates": items})
        kwargs: dict[str, Any] = {}
        if give_up_after is not None:
            kwargs["timeout"] = aiohttp.ClientTimeout(total=give_up_after)
        async with self.session.post(self.sim.base_url + path, data=data,
                                     headers=BASIC if headers is None else headers,
                                     **kwargs) as response:
            return response.status, response.headers, await response.read()

    async def update(self, *items: dict) -> tuple[int, dict]:
        status, _, body = await self.post(list(items))
        return status, orjson.loads(body)

    async def get(self, path: str) -> tuple[int, bytes]:
        async with self.session.get(self.sim.base_url + path) as response:
            return response.status, await response.read()


@asynccontextmanager
async def running(**overrides: Any) -> AsyncIterator[Client]:
    config = SimConfig(**{"customers": CUSTOMERS, **overrides})
    async with serve(config) as sim, aiohttp.ClientSession() as session:
        yield Client(sim, session)


# -- answers -------------------------------------------------------------------------------

async def test_found_customer_answers_200_and_echoes_every_identifier() -> None:
    i = find(linked("Apparel-Partner"))
    async with running() as client:
        status, body = await client.update(
            item(i, upgrade(updatedTierExpiryDate=FUTURE), key="email"))
    ident = WORLD.directory.identity(i)
    assert status == 200
    assert body == {"customersPartnerUpdates": [{
        "customer": {"id": 100000 + i, "mobile": f"9197{i:08d}", "email": f"user{i}@example.com",
                     "externalId": f"X{i:08d}", "status": FOUND},
        "partnerProgramUpdates": [{"partnerProgramName": "Apparel-Partner",
                                   "updateType": "UPGRADE", "updateStatus": OK}]}],
        "warnings": []}
    assert ident["id"] == 100000 + i


async def test_unknown_customer_echoes_what_was_sent_and_every_update_answers_8015() -> None:
    customer = {"mobile": "919800000001", "email": "", "externalId": ""}
    async with running() as client:
        status, body = await client.update(
            {"customer": customer, "partnerProgramUpdates": [upgrade(), cancel()]})
    assert status == 400
    (result,) = body["customersPartnerUpdates"]
    assert result["customer"] == {**customer, "status": NOT_FOUND}
    assert [u["updateStatus"] for u in result["partnerProgramUpdates"]] == [
        {"status": False, "message": "Customer not found", "code": 8015}] * 2
    assert [u["partnerProgramName"] for u in result["partnerProgramUpdates"]] == [
        "Apparel-Partner", "SPP_1"]


@pytest.mark.parametrize("customer", [
    {"id": 100000 + CUSTOMERS},              # one past the end of the world
    {"id": "100001"},                        # an id must be an integer
    {"mobile": "91970000001"},               # too short
    {"email": "user007@example.com"},        # not the canonical form
    {"externalId": "x00000001"},
    {"id": 99, "mobile": "919700000001"},    # the first identifier given decides
    {"email": ""},                           # "" counts as absent: no identifier at all
    {},
])
async def test_identifiers_that_map_to_no_customer_are_not_found(customer: dict) -> None:
    async with running() as client:
        _, body = await client.update({"customer": customer, "partnerProgramUpdates": [upgrade()]})
    assert body["customersPartnerUpdates"][0]["customer"]["status"] == NOT_FOUND


async def test_any_identifier_finds_the_customer_and_empty_ones_are_skipped() -> None:
    i = find(linked("Dining-Partner"))
    ident = WORLD.directory.identity(i)
    async with running() as client:
        for customer in ({"id": ident["id"]}, {"mobile": ident["mobile"]},
                         {"email": ident["email"]}, {"externalId": ident["externalId"]},
                         {"id": None, "mobile": "", "email": ident["email"]}):
            status, body = await client.update(
                {"customer": customer, "partnerProgramUpdates": [upgrade("Dining-Partner")]})
            assert status == 200, customer
            assert body["customersPartnerUpdates"][0]["customer"]["id"] == ident["id"]


def _error_cases() -> list[tuple[str, dict, dict, int]]:
    apparel = find(linked("Apparel-Partner"))
    unlinked = find(not_linked("Fuel-Partner"))
    return [
        ("no program name", {}, {"updateType": "RENEW",
                                 "updateDetails": {"updatedTierName": "Gold"}}, 2002),
        ("blank program name", {}, {**upgrade(), "partnerProgramName": "  "}, 2002),
        ("no updateDetails", {}, {"partnerProgramName": "Apparel-Partner",
                                  "updateType": "DOWNGRADE"}, 2002),
        ("no tier", {}, {**upgrade(), "updateDetails": {"updatedTierExpiryDate": FUTURE}}, 2002),
        ("unknown type", {}, {**upgrade(), "updateType": "PROMOTE"}, 2009),
        ("missing type", {}, {"partnerProgramName": "Apparel-Partner"}, 2009),
        ("past expiry", {}, upgrade(updatedTierExpiryDate="2020-01-01T00:00:00Z"), 2003),
        ("garbled expiry", {}, upgrade(updatedTierExpiryDate="next week"), 2003),
        ("unknown program", {}, upgrade("Shoes-Partner"), 2006),
        ("not linked", {"customer": unlinked}, upgrade("Fuel-Partner"), 2004),
        ("unknown tier", {"customer": apparel}, upgrade(tier="Diamond"), 2007),
        ("cancel, nothing pending", {"customer": apparel}, cancel("Apparel-Partner"), 2027),
        ("renewal while relinking is on", {"customer": apparel},
         {**upgrade(), "updateType": "MEMBERSHIP_RENEWAL_INITIATION"}, 2028),
        ("relinking off: cancel", {"allow_relinking": False, "customer": find(pending)},
         cancel(), 2026),
        ("relinking off: renewal is applied", {"allow_relinking": False, "customer": apparel},
         {**upgrade(), "updateType": "MEMBERSHIP_RENEWAL_INITIATION"}, 200),
        # first match wins
        ("type before program", {}, {**upgrade("Nope"), "updateType": "X"}, 2009),
        ("expiry before program", {}, upgrade("Nope", updatedTierExpiryDate="2001-01-01"), 2003),
        ("link before tier", {"customer": unlinked}, upgrade("Fuel-Partner", tier="Nope"), 2004),
    ]


@pytest.mark.parametrize(("case", "options", "update", "code"), _error_cases(),
                         ids=[c[0] for c in _error_cases()])
async def test_each_rule_answers_its_code(case: str, options: dict, update: dict,
                                          code: int) -> None:
    options = dict(options)
    i = options.pop("customer", find(linked("Apparel-Partner")))
    async with running(**options) as client:
        status, body = await client.update(item(i, update))
        applied = dict(client.sim.world.applied)
    entry = body["customersPartnerUpdates"][0]["partnerProgramUpdates"][0]
    assert entry["updateStatus"]["code"] == code
    assert entry["updateStatus"]["status"] is (code == 200)
    assert entry["updateStatus"]["message"]
    assert status == (200 if code == 200 else 400)
    assert bool(applied) is (code == 200)


async def test_cancel_clears_the_pending_relink_so_the_second_cancel_answers_2027() -> None:
    first, second = find(pending), find(pending, skip=1)
    async with running() as client:
        _, body = await client.update(item(first, cancel()))
        assert codes(body) == [[200]]
        _, body = await client.update(item(first, cancel()))
        assert codes(body) == [[2027]]
        _, body = await client.update(item(second, cancel(), cancel()))
        assert codes(body) == [[200, 2027]]
        assert client.sim.world.link(first, "SPP_1")[1] is False


async def test_http_status_is_200_all_ok_201_some_failed_400_all_failed() -> None:
    a, b = find(linked("Apparel-Partner")), find(linked("Apparel-Partner"), skip=1)
    async with running() as client:
        assert (await client.update(item(a, upgrade()), item(b, upgrade())))[0] == 200
        assert (await client.update(item(a, upgrade()), item(b, upgrade("Nope"))))[0] == 201
        assert (await client.update(item(a, upgrade(), upgrade("Nope"))))[0] == 201
        assert (await client.update(item(a, upgrade("Nope")), item(b, upgrade("X"))))[0] == 400


async def test_update_sets_the_tier_and_keeps_the_pending_relink() -> None:
    i = find(pending)
    async with running() as client:
        await client.update(item(i, upgrade("SPP_1", "Plus")))
        assert client.sim.world.link(i, "SPP_1") == ("Plus", True)
        await client.update(item(i, {**upgrade("SPP_1", "Basic"), "updateType": "DOWNGRADE"}))
        assert client.sim.world.link(i, "SPP_1") == ("Basic", True)


# -- batch-level answers ----------------------------------------------------------------------

@pytest.mark.parametrize(("options", "size", "code"), [
    ({}, 51, 2008), ({"max_batch": 2, "batch_error_code": 1060}, 3, 1060)])
async def test_a_batch_above_the_limit_is_refused_whole(options: dict, size: int,
                                                        code: int) -> None:
    i = find(linked("Apparel-Partner"))
    async with running(**options) as client:
        status, _, raw = await client.post([item(i, upgrade())] * size)
        at_limit, _, _ = await client.post([item(i + k, upgrade()) for k in range(size - 1)])
        stats = client.sim.stats()
    body = orjson.loads(raw)
    assert status == 400
    assert list(body) == ["errors", "warnings"]
    assert body["errors"][0]["code"] == code and body["errors"][0]["message"]
    assert at_limit in (200, 201, 400)
    assert stats["items"] == size - 1


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'{"items": []}',
                                 b'{"customersPartnerUpdates": []}',
                                 b'{"customersPartnerUpdates": {"customer": {}}}'])
async def test_a_body_that_is_not_a_request_answers_400_2002(raw: bytes) -> None:
    async with running() as client:
        status, _, body = await client.post(raw=raw)
    assert status == 400
    assert orjson.loads(body)["errors"][0]["code"] == 2002


async def test_an_item_without_updates_fails_with_2002_on_the_customer() -> None:
    i = find(linked("Apparel-Partner"))
    async with running() as client:
        status, body = await client.update({"customer": {"id": 100000 + i}}, "not an item")
    assert status == 400
    first, second = body["customersPartnerUpdates"]
    assert first["customer"]["status"]["code"] == 2002
    assert first["partnerProgramUpdates"] == []
    assert second == {"customer": {"status": NOT_FOUND}, "partnerProgramUpdates": []}


# -- auth --------------------------------------------------------------------------------------

async def test_basic_auth_uses_the_md5_of_the_password() -> None:
    i = find(linked("Apparel-Partner"))
    plain = {"Authorization": "Basic " + base64.b64encode(b"demo-till:demo-pass").decode()}
    async with running() as client:
        ok = await client.post([item(i, upgrade())])
        wrong = await client.post([item(i, upgrade())], headers=plain)
        missing = await client.post([item(i, upgrade())], headers={})
        stats = client.sim.stats()
    assert ok[0] == 200
    for status, _, body in (wrong, missing):
        assert status == 401
        assert orjson.loads(body)["errors"] == [{"code": 401, "message": "Unauthorized"}]
    assert stats["auth_failures"] == 2
    assert stats["status_counts"] == {"200": 1, "401": 2}


async def test_auth_can_be_switched_off_or_made_to_always_fail() -> None:
    i = find(linked("Apparel-Partner"))
    async with running(username=None) as client:
        assert (await client.post([item(i, upgrade())], headers={}))[0] == 200
    async with running(fail_auth=True) as client:
        assert (await client.post([item(i, upgrade())]))[0] == 401


async def test_oauth_token_is_issued_accepted_and_expires() -> None:
    i = find(linked("Apparel-Partner"))
    token_path = "/v3/oauth/token/generate"
    async with running(token_ttl=1) as client:
        bad, _, _ = await client.post(raw=b'{"key": "demo-key", "secret": "nope"}',
                                      path=token_path, headers={})
        status, _, raw = await client.post(raw=b'{"key": "demo-key", "secret": "demo-secret"}',
                                           path=token_path, headers={})
        data = orjson.loads(raw)["data"]
        header = {"X-CAP-API-OAUTH-TOKEN": data["accessToken"]}
        used = await client.post([item(i, upgrade())], headers=header)
        forged = await client.post([item(i, upgrade())],
                                   headers={"X-CAP-API-OAUTH-TOKEN": "forged"})
        await asyncio.sleep(1.1)       # the scenario: the 1 s token's life passes
        expired = await client.post([item(i, upgrade())], headers=header)
    assert bad == 401
    assert status == 200 and data["ttlSeconds"] == 1
    assert used[0] == 200
    assert forged[0] == 401
    assert expired[0] == 401


# -- fault dials ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dial", ["p_429", "p_461", "p_521", "p_500", "p_502", "p_503", "p_504"])
async def test_status_dials_answer_their_status_and_apply_nothing(dial: str) -> None:
    i = find(linked("Apparel-Partner"))
    async with running(**{dial: 1.0}) as client:
        status, headers, raw = await client.post([item(i, upgrade())])
        stats = client.sim.stats()
        applied = dict(client.sim.world.applied)
    expected = int(dial[2:])
    assert status == expected
    assert orjson.loads(raw)["errors"][0]["code"] == expected
    assert headers.get("Retry-After") == ("1" if expected == 429 else None)
    assert applied == {}
    assert stats["faults"][dial] == 1 and stats["processed"] == 0


async def test_drop_closes_the_connection_before_applying() -> None:
    i = find(linked("Apparel-Partner"))
    async with running(p_drop=1.0) as client:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await client.post([item(i, upgrade())])
        stats = client.sim.stats()
        assert client.sim.world.applied == {}
    assert stats["faults"]["p_drop"] == 1 and stats["processed"] == 0


async def test_lost_applies_then_closes_without_a_reply() -> None:
    i = find(linked("Apparel-Partner"))
    async with running(p_lost=1.0) as client:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await client.post([item(i, upgrade())])
        assert client.sim.world.applied == {i: [("Apparel-Partner", "UPGRADE", "Gold")]}


async def test_truncate_applies_and_answers_half_a_body() -> None:
    i = find(linked("Apparel-Partner"))
    async with running() as client:
        _, _, full = await client.post([item(i, upgrade())])
    async with running(p_truncate=1.0) as client:
        status, _, cut = await client.post([item(i, upgrade())])
        assert client.sim.world.applied == {i: [("Apparel-Partner", "UPGRADE", "Gold")]}
    assert status == 200
    assert cut == full[: len(full) // 2]
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(cut)


async def test_slow_applies_and_answers_after_the_client_gave_up() -> None:
    i = find(linked("Apparel-Partner"))
    async with running(p_slow=1.0, slow_s=0.6) as client:
        with pytest.raises(asyncio.TimeoutError):
            await client.post([item(i, upgrade())], give_up_after=0.2)
        assert client.sim.world.applied == {i: [("Apparel-Partner", "UPGRADE", "Gold")]}
        assert client.sim.stats()["faults"]["p_slow"] == 1


async def test_latency_delays_every_processed_answer() -> None:
    i = find(linked("Apparel-Partner"))
    async with running(latency_ms=150) as client:
        start = time.monotonic()
        status, _, _ = await client.post([item(i, upgrade())])
    assert status == 200
    assert time.monotonic() - start >= 0.14


async def test_fault_draws_are_seeded_and_reproducible() -> None:
    config = {"p_503": 0.3, "p_500": 0.2, "p_461": 0.1, "seed": 11}
    i = find(linked("Apparel-Partner"))
    decider = FaultDecider(FaultPlan.from_config(SimConfig(**config)), 11)
    expected = [int(d[2:]) if d else 200 for d in (decider.pick() for _ in range(40))]
    async with running(**config) as client:
        first = [(await client.post([item(i, upgrade())]))[0] for _ in range(40)]
        assert (await client.post(raw=b"", path="/_sim/reset"))[0] == 200
        again = [(await client.post([item(i, upgrade())]))[0] for _ in range(40)]
        stats = client.sim.stats()
    assert first == again == expected
    assert {500, 503, 461, 200} <= set(first)
    assert stats["faults"]["p_503"] == expected.count(503)


# -- rate limit ----------------------------------------------------------------------------------

async def test_rate_limit_answers_429_with_retry_after_until_a_slot_frees() -> None:
    i = find(linked("Apparel-Partner"))
    async with running(rate_limit=3, rate_period=1.0) as client:
        statuses = [(await client.post([item(i, upgrade())]))[0] for _ in range(3)]
        status, headers, body = await client.post([item(i, upgrade())])
        await asyncio.sleep(1.05)      # the scenario: the 1 s window passes
        after, _, _ = await client.post([item(i, upgrade())])
        stats = client.sim.stats()
    assert statuses == [200, 200, 200]
    assert status == 429 and headers["Retry-After"] == "1"
    assert orjson.loads(body)["errors"] == [{"code": 429, "message": "Too many requests"}]
    assert after == 200
    assert stats["faults"]["rate_limit"] == 1
    assert stats["accepted"] == 4 and stats["requests"] == 5


async def test_a_per_minute_limit_asks_to_wait_most_of_the_minute() -> None:
    i = find(linked("Apparel-Partner"))
    async with running(rate_limit=2, rate_period=60) as client:
        for _ in range(2):
            assert (await client.post([item(i, upgrade())]))[0] == 200
        status, headers, _ = await client.post([item(i, upgrade())])
    assert status == 429
    assert 59 <= int(headers["Retry-After"]) <= 60


async def test_stalls_stop_the_whole_server_for_their_length() -> None:
    i = find(linked("Apparel-Partner"))
    async with running(stall_every_s=0.05, stall_ms=120) as client:
        start = time.monotonic()
        deadline = start + 30
        while client.sim.stats()["stalls"] < 2 and time.monotonic() < deadline:
            assert (await client.post([item(i, upgrade())]))[0] == 200
            await asyncio.sleep(0.01)  # the scenario: requests spread over the stalls
        elapsed = time.monotonic() - start
        stats = client.sim.stats()
    assert stats["stalls"] >= 2
    assert elapsed >= 2 * 0.12          # each one held everything (this loop too) that long


# -- introspection -----------------------------------------------------------------------------

async def test_stats_max_window_counts_arrivals_in_the_busiest_window() -> None:
    i = find(linked("Apparel-Partner"))
    async with running(p_503=0.5) as client:
        for _ in range(5):
            await client.post([item(i, upgrade())])
        # A minute: five requests fit in it however busy the machine is.
        status, raw = await client.get("/_sim/stats?window_s=60")
        _, tiny = await client.get("/_sim/stats?window_s=0.000001")
        bad, _ = await client.get("/_sim/stats?window_s=soon")
    stats = orjson.loads(raw)
    assert status == 200 and bad == 400
    assert stats["requests"] == 5 and stats["max_window"] == 5
    assert orjson.loads(tiny)["max_window"] == 1
    assert sum(stats["status_counts"].values()) == 5


async def test_overlap_violations_count_concurrent_requests_for_one_customer() -> None:
    a, b = find(linked("Apparel-Partner")), find(linked("Apparel-Partner"), skip=1)
    async with running(latency_ms=300) as client:
        await asyncio.gather(client.post([item(a, upgrade())]), client.post([item(b, upgrade())]))
        clean = client.sim.stats()
        await asyncio.gather(client.post([item(a, upgrade())]),
                             client.post([item(b, upgrade()), item(a, upgrade("Dining-Partner"))]))
        racy = client.sim.stats()
    assert clean["overlap_violations"] == 0 and clean["max_in_flight"] == 2
    assert racy["overlap_violations"] == 1


@pytest.mark.parametrize("latency_ms", [0.0, 50.0])
async def test_the_same_customer_twice_in_one_batch_is_counted(latency_ms: float) -> None:
    i = find(linked("Apparel-Partner"))
    async with running(latency_ms=latency_ms) as client:
        _, body = await client.update(item(i, upgrade()), item(i, upgrade(tier="Silver")))
        stats = client.sim.stats()
    assert codes(body) == [[200], [200]]
    assert stats["duplicate_in_batch"] == 1 and stats["overlap_violations"] == 0
    assert client.sim.world.applied[i] == [("Apparel-Partner", "UPGRADE", "Gold"),
                                           ("Apparel-Partner", "UPGRADE", "Silver")]


async def test_applied_log_lists_successful_updates_in_order_and_reset_clears() -> None:
    a = find(linked("Apparel-Partner"))
    b = find(lambda i: i > a and WORLD.link(i, "Apparel-Partner")[0] is not None and pending(i))
    async with running() as client:
        await client.update(item(b, cancel(), upgrade(tier="Nope")), item(a, upgrade()))
        await client.update(item(b, upgrade(tier="Bronze")))
        status, raw = await client.get("/_sim/applied")
        await client.post(raw=b"", path="/_sim/reset")
        _, empty = await client.get("/_sim/applied")
        stats = client.sim.stats()
    lines = [orjson.loads(line) for line in raw.splitlines()]
    assert status == 200
    assert lines == [
        {"customer": a, "id": 100000 + a, "mobile": f"9197{a:08d}", "items": 1,
         "updates": [["Apparel-Partner", "UPGRADE", "Gold"]]},
        {"customer": b, "id": 100000 + b, "mobile": f"9197{b:08d}", "items": 2,
         "updates": [["SPP_1", "MEMBERSHIP_RELINKING_CANCELLED", None],
                     ["Apparel-Partner", "UPGRADE", "Bronze"]]}]
    assert empty == b""
    assert stats["requests"] == 0 and stats["customers_updated"] == 0


async def test_a_world_file_replaces_the_formula_world(tmp_path: Any) -> None:
    world = {"customers": [
        {"id": 5001, "mobile": "15550001", "programs": {"Apparel-Partner": {"tier": "Gold"}}},
        {"externalId": "EXT-2", "programs": {"SPP_1": {"tier": "Basic", "pendingRelink": True}}},
    ]}
    path = tmp_path / "world.json"
    path.write_bytes(orjson.dumps(world))
    async with running(world_file=str(path)) as client:
        _, body = await client.update(
            {"customer": {"mobile": "15550001"}, "partnerProgramUpdates": [upgrade(tier="Silver")]},
            {"customer": {"externalId": "EXT-2"}, "partnerProgramUpdates": [cancel(), cancel()]},
            {"customer": {"id": 100001}, "partnerProgramUpdates": [upgrade()]})
    assert codes(body) == [[200], [200, 2027], [8015]]
    first = body["customersPartnerUpdates"][0]["customer"]
    assert first == {"id": 5001, "mobile": "15550001", "status": FOUND}
    assert body["customersPartnerUpdates"][1]["customer"] == {"externalId": "EXT-2",
                                                               "status": FOUND}


async def test_serve_refuses_a_non_loopback_host() -> None:
    with pytest.raises(ValueError, match="loopback"):
        async with serve(SimConfig(), host="0.0.0.0"):
            pass


# -- network dials -------------------------------------------------------------------------

async def test_gateway_answers_504_while_the_api_goes_on_and_applies() -> None:
    i = find(linked("Apparel-Partner"))
    async with running(p_gateway=1.0, gateway_s=0.05, gateway_apply_s=0.3) as client:
        status, _, raw = await client.post([item(i, upgrade())])
        assert status == 504 and orjson.loads(raw)["errors"][0]["code"] == 504
        assert client.sim.world.applied == {}              # not yet: the API is still busy
        status, _, _ = await client.post([item(i, upgrade(tier="Silver"))])
        assert client.sim.stats()["overlap_violations"] == 1   # the race a client must avoid
        await wait_until_async(lambda: i in client.sim.world.applied, what="the API applied")
        assert client.sim.world.applied[i][0] == ("Apparel-Partner", "UPGRADE", "Gold")
        assert client.sim.stats()["faults"]["p_gateway"] == 2


async def test_not_now_answers_2010_or_2001_per_item_and_applies_nothing_for_it() -> None:
    customers = [find(linked("Apparel-Partner"), skip=k) for k in range(40)]
    async with running(p_not_now=0.5) as client:
        status, body = await client.update(*[item(i, upgrade()) for i in customers])
        applied = dict(client.sim.world.applied)
    got = codes(body)
    deferred = [i for i, c in zip(customers, got, strict=True) if c[0] in (2010, 2001)]
    assert status == 201 and 0 < len(deferred) < len(customers)
    assert {c[0] for c in got} <= {200, 2010, 2001}
    assert set(applied) == set(customers) - set(deferred)


@pytest.mark.parametrize("after", ["120", "Fri, 01 Jan 2100 00:00:00 GMT"])
async def test_retry_after_dial_replaces_the_header_of_fault_answers(after: str) -> None:
    async with running(p_503=1.0, retry_after=after) as client:
        status, headers, _ = await client.post([item(find(linked("Apparel-Partner")),
                                                     upgrade())])
    assert status == 503 and headers["Retry-After"] == after


async def test_redirect_dial_answers_every_request_with_the_location() -> None:
    async with running(redirect_to="http://127.0.0.1:9/x", redirect_status=308) as client:
        async with client.session.post(client.sim.base_url + PATH, data=b"{}",
                                       allow_redirects=False) as response:
            assert response.status == 308
            assert response.headers["Location"] == "http://127.0.0.1:9/x" + PATH
        async with client.session.post(client.sim.base_url + "/v3/oauth/token/generate",
                                       data=b"{}", allow_redirects=False) as response:
            assert response.status == 308
        assert client.sim.stats()["redirects"] == 2


async def test_endless_body_goes_on_until_the_client_stops_reading() -> None:
    async with running(endless_body=True) as client:
        async with client.session.post(client.sim.base_url + PATH, data=b"{}",
                                       headers=BASIC) as response:
            assert response.status == 200
            got = 0
            while got < 4 * 1024 * 1024:
                got += len(await response.content.readany())
        await wait_until_async(lambda: client.sim.stats()["endless_bytes"] >= got,
                               what="the server's count of what it wrote")
        assert client.sim.stats()["endless_bytes"] >= got


# -- answer dials ------------------------------------------------------------------------------

async def test_the_api_answers_the_stored_form_of_what_people_write() -> None:
    i = find(linked("Apparel-Partner"))
    ident = WORLD.directory.identity(i)
    sent = {"mobile": ident["mobile"][2:]}                      # no country code
    async with running() as client:
        _, body = await client.update({"customer": sent, "partnerProgramUpdates": [upgrade()]})
        answered = body["customersPartnerUpdates"][0]["customer"]
        assert {k: answered[k] for k in ident} == ident and answered["status"] == FOUND
        _, body = await client.update({"customer": {"email": ident["email"].upper()},
                                       "partnerProgramUpdates": [upgrade()]})
        assert body["customersPartnerUpdates"][0]["customer"]["email"] == ident["email"]


async def test_answer_dials_change_the_names_and_order_never_what_is_applied() -> None:
    both = lambda i: linked("Apparel-Partner")(i) and linked("Dining-Partner")(i)  # noqa: E731
    people = [find(both, k) for k in range(6)]
    items = [{"customer": {"mobile": WORLD.directory.identity(i)["mobile"][2:]},
              "partnerProgramUpdates": [upgrade(), upgrade("Dining-Partner", "Silver")]}
             for i in people]
    async with running(answer_form="echo") as client:
        _, body = await client.update(*items)
        assert [it["customer"]["mobile"] for it in body["customersPartnerUpdates"]] == \
            [it["customer"]["mobile"] for it in items]
        assert "id" not in body["customersPartnerUpdates"][0]["customer"]
    async with running(shuffle=True) as client:
        _, body = await client.update(*items)
        order = [it["customer"]["id"] - 100000 for it in body["customersPartnerUpdates"]]
        programs = {tuple(u["partnerProgramName"] for u in it["partnerProgramUpdates"])
                    for it in body["customersPartnerUpdates"]}
        assert sorted(order) == sorted(people) and order != people
        assert len(programs) == 2                            # some answered B before A
        assert client.sim.stats()["updates_applied"] == 12
    async with running(p_others=1.0) as client:
        _, body = await client.update(*items)
        named = {it["customer"]["mobile"] for it in body["customersPartnerUpdates"]}
        assert not named & {WORLD.directory.identity(i)["mobile"] for i in people}
        stats = client.sim.stats()
        assert stats["updates_applied"] == 12 and stats["answers_naming_others"] == 1
        assert stats["most_items_per_customer"] == 1
