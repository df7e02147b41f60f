"""The read endpoint: ``GET /v2/partnerProgram/customerActivityHistories`` (and the
``…/customerActivityHistory`` spelling of Capillary's own examples).

One customer per call, named by ``identifierName``/``identifierValue``; the
answer is the documented shape, the customer's linked programs (ten at most)
with the tier and expiry the updates it applied left, expiry in UTC (``…Z``)::

    {"pagination": {"limit": 10, "offset": 0, "total": n},
     "data": [{"partnerProgramDetails": {...}, "customerActivityHistory": [...],
               "customer": {stored identifiers}}], "warnings": [], "errors": []}

``limit`` above 10 answers 400; an unknown customer 8015 (HTTP 200, as the API's
per-customer errors do). Read dials, drawn from their own seeded source so the
update dials' draws are unchanged: ``p_read_503``, ``p_read_429`` (Retry-After:
1), ``p_read_drop`` (close without answering), ``p_read_other`` (another
customer's programs, named as that customer). Reads go through auth and the
rate limit like updates: they count against the same key. ``latency_ms`` (and
``jitter_ms``) delay each read's answer as they do an update's.

``app[READS]`` counts the reads answered, per (identifierName, identifierValue)
as asked: what a test checks to see that no record was read twice.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from .config import READ_DIALS

READ_PATHS = ("/v2/partnerProgram/customerActivityHistories",
              "/v2/partnerProgram/customerActivityHistory")
MAX_LIMIT = 10
PROGRAM_IDS = {"Apparel-Partner": 101, "Dining-Partner": 102, "Travel-Partner": 103,
               "Fuel-Partner": 104, "SPP_1": 105}
READ_RNG: web.AppKey[random.Random] = web.AppKey("bulkupdate_sim_read_rng", random.Random)
READ_STATE: web.AppKey[Any] = web.AppKey("bulkupdate_sim_read_state", object)
HANG_UP: web.AppKey[Callable[[web.Request], web.Response]] = web.AppKey(
    "bulkupdate_sim_hang_up")
READS: web.AppKey[Counter[tuple[str, str]]] = web.AppKey("bulkupdate_sim_reads", Counter)


def utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_read(world: Any, i: int) -> bytes:
    programs = world.programs(i)[:MAX_LIMIT]
    ident = world.directory.identity(i)
    data = [{"partnerProgramDetails": {
                "partnerProgramId": PROGRAM_IDS.get(name), "partnerProgramName": name,
                "partnerTierName": tier, "partnerTierExpiryDate": utc(expiry), "linked": True,
                "partnerProgramType": "SUPPLEMENTARY" if name == "SPP_1" else "EXTERNAL",
                "partnerProgramMembershipLastUpdatedDate": utc(time.time())},
             "customerActivityHistory": [{"activityType": "LINKINGUPDATES",
                                          "activityDate": utc(time.time())}],
             "customer": ident} for name, tier, expiry in programs]
    return orjson.dumps({"pagination": {"limit": MAX_LIMIT, "offset": 0, "total": len(data)},
                         "data": data, "warnings": [], "errors": []})


def _error(status: int, code: int, message: str,
           headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps({"data": [], "warnings": [], "errors": [
        {"code": code, "message": message}]}), status=status,
        content_type="application/json", headers=headers)


async def handle_read(request: web.Request) -> web.StreamResponse:
    state = request.app[READ_STATE]
    state.requests += 1
    if not state.authorized(request):
        state.auth_failures += 1
        return state.count(_error(401, 401, "Unauthorized"))
    if state.limiter is not None:
        wait = state.limiter.admit(time.monotonic())
        if wait:
            state.faults["rate_limit"] += 1
            return state.count(_error(429, 429, "Too many requests",
                                      {"Retry-After": str(max(1, round(wait)))}))
    config, query = state.config, request.query
    try:
        limit = int(query.get("limit", MAX_LIMIT))
    except ValueError:
        limit = -1
    if not 0 < limit <= MAX_LIMIT:
        return state.count(_error(400, 400, f"limit must be 1..{MAX_LIMIT}"))
    name, value = query.get("identifierName"), query.get("identifierValue")
    if not name or not value:
        return state.count(_error(400, 2002, "identifierName and identifierValue are required"))
    rng = request.app[READ_RNG]
    draw = rng.random()
    for dial in READ_DIALS:
        p = getattr(config, dial)
        if draw < p:
            state.faults[dial] = state.faults.get(dial, 0) + 1
            break
        draw -= p
    else:
        dial = ""
    if dial == "p_read_drop":
        return request.app[HANG_UP](request)
    if dial in ("p_read_503", "p_read_429"):
        status = int(dial[-3:])
        return state.count(_error(status, status, "try again", {"Retry-After": "1"}))
    if config.latency_ms or config.jitter_ms:
        jitter = rng.uniform(-config.jitter_ms, config.jitter_ms)
        await asyncio.sleep(max(0.0, config.latency_ms + jitter) / 1000)
    world = state.world
    i = world.locate({name: int(value) if name == "id" and value.isdigit() else value})
    if i is None:
        return state.count(_error(200, 8015, "Customer not found"))
    if dial == "p_read_other":
        i = (i + 1) % world.customers
    request.app[READS][(name, value)] += 1
    return state.count(web.Response(body=render_read(world, i),
                                    content_type="application/json"))


def add_read_routes(app: web.Application, seed: int, state_key: web.AppKey[Any],
                    hang_up: Callable[[web.Request], web.Response]) -> None:
    """The read's routes on the server's app; its state and its way of dropping a
    connection come from the server, which imports this module (not the reverse)."""
    app[READ_RNG] = random.Random(seed * 7919 + 1)
    app[READ_STATE] = app[state_key]
    app[HANG_UP] = hang_up
    app[READS] = Counter()
    for path in READ_PATHS:
        app.router.add_get(path, handle_read)
