"""The simulator's HTTP face: handlers, auth, rate limit, fault dials, stats, ``serve()``.

Routes::

    POST /v2/partnerProgram/customerPartnerProgramUpdate   the API
    POST /v2/partnerProgram/linkCustomer                   the Link Customer API
    POST /v2/partnerProgram/deLinkCustomer                 the delink API (delinking.py)
    POST /v3/oauth/token/generate                          OAuth token
    GET  /v2/partnerProgram/customerActivityHistories      the read (simulator/read.py)
    GET  /_sim/stats?window_s=1.0                          counters (tests, benchmarks)
    GET  /_sim/applied                                     applied-update log, JSONL
    POST /_sim/reset                                       forget changes, logs, counters

An update request meets, in order: auth (401), the rate limit (429 + Retry-After),
one seeded fault draw (429/461/521/5xx answer, or drop: close without answering),
body checks (400), latency, apply, then the post-apply dials (lost, truncate, slow).

Batch-level answers, with no per-item body (HTTP 400, ``{"errors": [...], "warnings": []}``):
more than ``max_batch`` items → ``batch_error_code`` (2008 or 1060); a body that is
not JSON, not an object, or without a non-empty ``customersPartnerUpdates`` list →
code 2002 ("Invalid Request: ..."), the API's code for a missing required field.

The link endpoint meets the same auth, rate limit and dials (one draw per
request from the same sequence) and answers ``{"linkCustomers": [...]}`` by the
rules of ``linking.py``; its batch-level answers are the same, for a missing or
empty ``linkCustomers``. Of the answer dials only ``answer_form`` applies to it.
The delink endpoint likewise, by ``delinking.py``'s rules, in the shape
``delink_form`` says; ``first_customer_only`` processes and answers only the
first customer of each delink request. ``/_sim/stats`` adds ``delink_requests``,
``delinks_applied``, ``delinks_after_unknown`` and ``delink_customers_left_out``,
and ``links_after_unknown``: 2005s answered for a pair whose previous link request
went without a readable answer (what a client notes "linked by the lost attempt or
before this run").

``/_sim/stats`` (update and link requests alike, but where it says)::

    requests            every one received          accepted   past auth and rate limit
    processed           reached the world           items      items in processed requests
    status_counts       {"200": n, "503": n, ...}   faults     {"rate_limit": n, "p_503": n, ...}
    updates_applied     program updates that succeeded
    link_requests       requests to the link endpoint (counted in ``requests`` too)
    links_applied       program links that succeeded (a queued relink among them)
    links_applied_twice (customer, program) pairs linked more than once (None when
                        not tracking): a relink queued by a link re-sent is one
    links_resent        2005s for pairs this simulator linked: a link sent again after
                        it was applied (expected after a lost reply; None when not tracking)
    in_flight, max_in_flight      requests between arrival and answer (now, at most)
    overlap_violations  customers already busy in another request when one arrived
    duplicate_in_batch  a customer repeated inside one request
    max_window          most arrivals in any ``window_s`` seconds (last 200,000 kept)
    auth_failures       401s, token endpoint included
    customers_updated   customers in the applied log (None when not tracking)
    redirects           requests answered with a redirect (token endpoint included)
    endless_bytes       bytes of endless bodies written before the client hung up
    stalls              whole-server stalls so far (``stall_every_s``/``stall_ms``)
    token_requests      requests to the token endpoint; token_503s: those answered 503
    answers_naming_others   answers the ``p_others`` dial gave other customers' names
    most_items_per_customer the most items any one found customer was processed in
                        (1 when nobody's update was applied twice; None when not tracking)

The network dials: ``p_gateway`` answers 504 after ``gateway_s`` while the API goes
on with the request (busy, then applied, ``gateway_apply_s`` after it arrived);
``p_not_now`` answers 2010 or 2001 for an item (nothing applied for it);
``retry_after`` replaces the Retry-After of fault answers; ``redirect_to`` answers
every request with ``redirect_status`` and that Location; ``endless_body`` answers
200 with a body that never ends.

The answer dials (what a client must read, not faults): answers name customers as
the API stores them by default; ``answer_form="echo"`` names them as the request
did; ``shuffle`` orders items and programs anew; ``p_others`` names other
customers (per request). What is applied is the same under every dial.

A customer is busy from the moment its request is parsed until the answer is
ready; a p_slow answer's extra delay comes after that, since the update is
already applied and a client that times out and retries races nothing.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import random
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from ..settings import is_loopback
from .config import FAULT_DIALS, PRE_APPLY_DIALS, SimConfig
from .delinking import (
    DELINK_BODY_KEY,
    DELINK_PATH,
    DELINK_PROGRAMS_KEY,
    UNANSWERED_FAULTS,
    DelinkBook,
    UnknownFates,
    render_delink_response,
)
from .faults import ERROR_BODIES, FaultDecider, FaultPlan, SlidingWindow, max_window, token_hiccup
from .faults import retry_after_header as _retry_after
from .linking import LINKS_KEY, link_items, links_applied_twice
from .loader import load_world
from .read import add_read_routes
from .render import render_dialled, render_link_response, render_update_response
from .world import World

UPDATE_PATH = "/v2/partnerProgram/customerPartnerProgramUpdate"
LINK_PATH = "/v2/partnerProgram/linkCustomer"
UPDATES_KEY = "customersPartnerUpdates"
LINK_BODY_KEY = "linkCustomers"
PROGRAMS_OF = {UPDATES_KEY: "partnerProgramUpdates", LINK_BODY_KEY: LINKS_KEY,
               DELINK_BODY_KEY: DELINK_PROGRAMS_KEY}
NOT_NOW = (2010, 2001)   # "events queued for the customer", "cannot process the event"
TOKEN_PATH = "/v3/oauth/token/generate"
ARRIVALS_KEPT = 200_000
_PRE_APPLY = frozenset(PRE_APPLY_DIALS)
_JSON = "application/json"


def _errors(status: int, code: int | None = None, message: str | None = None,
            headers: dict[str, str] | None = None) -> web.Response:
    body = {"errors": [{"code": code or status, "message": message or ERROR_BODIES[status]}],
            "warnings": []}
    return web.Response(body=orjson.dumps(body), status=status, content_type=_JSON,
                        headers=headers)


def _hang_up(request: web.Request) -> web.Response:
    """Close the connection without an answer. aiohttp then fails to write the
    returned response, treats it as a client disconnect and logs nothing."""
    transport = request.transport
    if transport is not None:
        transport.close()
    return web.Response(status=204)


def basic_credential(username: str, password: str) -> str:
    """Capillary's scheme: base64(username ":" md5_hex(password))."""
    digest = hashlib.md5(password.encode()).hexdigest()  # their scheme, not our choice
    return base64.b64encode(f"{username}:{digest}".encode()).decode()


class SimState:
    """Everything the handlers share; one per app."""

    def __init__(self, config: SimConfig, world: World) -> None:
        self.config = config
        self.world = world
        self._basic = basic_credential(config.username, config.password) \
            if config.username else None
        self.tokens: dict[str, float] = {}
        self.busy: dict[int, int] = {}
        self.in_flight = 0
        self.reset()

    def reset(self) -> None:
        config = self.config
        self.world.reset()
        self.decider = FaultDecider(FaultPlan.from_config(config), config.seed)
        self.limiter = (SlidingWindow(config.rate_limit, config.rate_period)
                        if config.rate_limit > 0 else None)
        self.arrivals: deque[float] = deque(maxlen=ARRIVALS_KEPT)
        self.requests = self.accepted = self.processed = self.items = 0
        self.link_requests = 0
        self.updates_applied = self.auth_failures = 0
        self.max_in_flight = self.in_flight
        self.overlap_violations = self.duplicate_in_batch = 0
        self.redirects = self.endless_bytes = 0
        self.backend: set[asyncio.Task[Any]] = set()
        self.status_counts: dict[int, int] = {}
        self.faults = dict.fromkeys(("rate_limit", *FAULT_DIALS), 0)
        self.stalls = 0
        self.token_requests = self.token_503s = 0
        # Its own seeded draws: the answer dials never shift the fault dials' sequence.
        self.answer_rng = random.Random(f"answers-{config.seed}")
        self.others = 0
        self.delinks = DelinkBook()
        self.link_fates = UnknownFates(LINKS_KEY, 2005)

    # -- auth -------------------------------------------------------------------
    def authorized(self, request: web.Request) -> bool:
        if self.config.fail_auth:
            return False
        if self._basic is None:
            return True
        header = request.headers.get("Authorization")
        if header is not None:
            scheme, _, credential = header.partition(" ")
            if scheme.lower() == "basic" and credential.strip() == self._basic:
                return True
        token = request.headers.get("X-CAP-API-OAUTH-TOKEN")
        if token:
            expires = self.tokens.get(token)
            return expires is not None and expires > time.monotonic()
        return False

    def issue_token(self) -> str:
        now = time.monotonic()
        for old in [t for t, expires in self.tokens.items() if expires <= now]:
            del self.tokens[old]
        token = secrets.token_urlsafe(24)
        self.tokens[token] = now + (self.config.token_revoke_s or self.config.token_ttl)
        return token

    # -- introspection ----------------------------------------------------------
    def stats(self, window_s: float = 1.0) -> dict[str, Any]:
        world = self.world
        return {
            "requests": self.requests,
            "accepted": self.accepted,
            "processed": self.processed,
            "status_counts": {str(k): v for k, v in sorted(self.status_counts.items())},
            "items": self.items,
            "updates_applied": self.updates_applied,
            "link_requests": self.link_requests,
            "links_applied": world.links_applied,
            "links_applied_twice": links_applied_twice(world),
            "links_resent": world.links_resent if world.track else None,
            "faults": dict(self.faults),
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "overlap_violations": self.overlap_violations,
            "duplicate_in_batch": self.duplicate_in_batch,
            "window_s": window_s,
            "max_window": max_window(self.arrivals, window_s),
            "auth_failures": self.auth_failures,
            "customers_updated": len(world.applied) if world.track else None,
            "redirects": self.redirects,
            "endless_bytes": self.endless_bytes,
            "stalls": self.stalls,
            "token_requests": self.token_requests, "token_503s": self.token_503s,
            "answers_naming_others": self.others,
            **self.delinks.stats(),
            "links_after_unknown": self.link_fates.after_unknown,
            "most_items_per_customer": max(world.seen.values(), default=0)
            if world.track else None,
        }

    # -- ordering watch -----------------------------------------------------------
    def mark_busy(self, located: list[int | None]) -> list[int]:
        """Customers of one request are busy until it answers. Unknown customers
        are skipped: nothing can be applied to them, so there is nothing to race."""
        busy = self.busy
        marked = []
        for i in located:
            if i is None:
                continue
            held = busy.get(i)
            if held is None:
                busy[i] = 1
                marked.append(i)
            elif i in marked:  # rare path: only for a customer already busy
                self.duplicate_in_batch += 1
            else:
                # Another request for this customer is between arrival and answer.
                self.overlap_violations += 1
                busy[i] = held + 1
                marked.append(i)
        return marked

    def check_busy(self, located: list[int | None]) -> None:
        """What :meth:`mark_busy` counts, for a request that is answered at once."""
        distinct = set(located)
        distinct.discard(None)
        known = len(located) - located.count(None)
        if len(distinct) != known:
            self.duplicate_in_batch += known - len(distinct)
        busy = self.busy
        if busy:
            self.overlap_violations += sum(1 for i in distinct if i in busy)

    def unmark_busy(self, marked: list[int]) -> None:
        busy = self.busy
        for i in marked:
            held = busy[i]
            if held == 1:
                del busy[i]
            else:
                busy[i] = held - 1

    def early_fault(self, fault: str, key: str, body: bytes) -> None:
        """Count a fault answered before processing; the pairs of a link or delink
        whose client sees no answer it can read are noted (delinking.py)."""
        self.faults[fault] += 1
        if key != UPDATES_KEY and fault in UNANSWERED_FAULTS:
            self.fates(key).dropped(self.world, body, key)

    def fates(self, key: str) -> UnknownFates:
        """The unknown-fate book of the link or delink endpoint (by body key)."""
        return self.delinks.fates if key == DELINK_BODY_KEY else self.link_fates

    def redirect(self, request: web.Request) -> web.Response | None:
        """The redirect dial: the same path at ``redirect_to``, body unread."""
        config = self.config
        if not config.redirect_to:
            return None
        self.redirects += 1
        return web.Response(status=config.redirect_status,
                            headers={"Location": config.redirect_to.rstrip("/") + request.path})

    def count(self, response: web.Response) -> web.Response:
        self.status_counts[response.status] = self.status_counts.get(response.status, 0) + 1
        return response


STATE = web.AppKey("bulkupdate_sim_state", SimState)


async def handle_update(request: web.Request, key: str = UPDATES_KEY) -> web.StreamResponse:
    state = request.app[STATE]
    state.requests += 1
    state.arrivals.append(time.monotonic())
    state.in_flight += 1
    if state.in_flight > state.max_in_flight:
        state.max_in_flight = state.in_flight
    try:
        return await _update(state, request, key)
    finally:
        state.in_flight -= 1


async def handle_link(request: web.Request) -> web.StreamResponse:
    """The Link Customer API: the update's path through auth, limits and dials."""
    request.app[STATE].link_requests += 1
    return await handle_update(request, LINK_BODY_KEY)


async def handle_delink(request: web.Request) -> web.StreamResponse:
    """The delink API: the update's path through auth, limits and dials."""
    request.app[STATE].delinks.requests += 1
    return await handle_update(request, DELINK_BODY_KEY)


async def _update(state: SimState, request: web.Request, key: str) -> web.StreamResponse:
    moved = state.redirect(request)
    if moved is not None:
        return state.count(moved)
    if not state.authorized(request):
        state.auth_failures += 1
        return state.count(_errors(401))
    if state.limiter is not None:
        wait = state.limiter.admit(time.monotonic())
        if wait:
            state.faults["rate_limit"] += 1
            return state.count(_errors(429, headers={"Retry-After": _retry_after(wait)}))
    state.accepted += 1
    config = state.config
    if config.endless_body:
        return await _endless(state, request)
    fault = state.decider.pick()
    body = await request.read()
    if fault in _PRE_APPLY:
        state.early_fault(fault, key, body)
        if fault == "p_drop":
            return _hang_up(request)
        status = int(fault[2:])
        after = config.retry_after or ("1" if status == 429 else "")
        headers = {"Retry-After": after} if after and status in (429, 461, 503) else None
        return state.count(_errors(status, headers=headers))
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return state.count(_errors(400, 2002, "Invalid Request: the body is not valid JSON"))
    items = data.get(key) if type(data) is dict else None
    if type(items) is not list or not items:
        return state.count(_errors(
            400, 2002, f"Invalid Request: {key} must be a non-empty list"))
    if len(items) > config.max_batch:
        return state.count(_errors(
            400, config.batch_error_code,
            f"Invalid Request: Cannot process more than {config.max_batch} customers "
            f"per request, got {len(items)}"))
    state.items += len(items)
    if fault == "p_gateway":
        state.faults[fault] += 1
        task = asyncio.create_task(_process(state, items, config.gateway_apply_s, key,
                                            delivered=False))
        state.backend.add(task)
        task.add_done_callback(state.backend.discard)
        await asyncio.sleep(config.gateway_s)
        return state.count(_errors(504))
    status, payload = await _process(state, items, None, key,
                                     delivered=fault not in UNANSWERED_FAULTS)
    if fault == "p_lost":
        state.faults["p_lost"] += 1
        return _hang_up(request)
    if fault == "p_truncate":
        state.faults["p_truncate"] += 1
        payload = payload[: len(payload) // 2]
    elif fault == "p_slow":
        state.faults["p_slow"] += 1
        await asyncio.sleep(config.slow_s)
    return state.count(web.Response(body=payload, status=status, content_type=_JSON))


async def _process(state: SimState, items: list[Any], delay: float | None = None,
                   key: str = UPDATES_KEY, *, delivered: bool = True) -> tuple[int, bytes]:
    """Mark customers busy, wait the latency (or ``delay``), apply in order, unmark.
    ``delivered``: the answer will reach the client (the delink book counts it)."""
    world = state.world
    locate = world.directory.locate
    located = [locate(item.get("customer")) if type(item) is dict else None for item in items]
    if key == DELINK_BODY_KEY and state.config.first_customer_only and len(items) > 1:
        # A server without batch support: the rest of the request is never seen.
        state.delinks.left_out += len(items) - 1
        state.delinks.fates.not_answered(world, items[1:], located[1:])
        items, located = items[:1], located[:1]
    if delay is None:
        delay = state.decider.delay()
    if delay:
        marked = state.mark_busy(located)
        try:
            await asyncio.sleep(delay)
            outcomes, ok, failed = _apply(state, items, located, key, delivered)
        finally:
            state.unmark_busy(marked)
    else:
        # Nothing can interleave with a request that never awaits: check, don't mark.
        state.check_busy(located)
        outcomes, ok, failed = _apply(state, items, located, key, delivered)
    state.processed += 1
    status = 200 if not failed else (400 if not ok else 201)
    config = state.config
    if key == LINK_BODY_KEY:
        return status, render_link_response(items, located, outcomes, world.directory,
                                            config.answer_form)
    if key == DELINK_BODY_KEY:
        return status, render_delink_response(items, located, outcomes, world,
                                              form=config.delink_form,
                                              echo=config.answer_form == "echo")
    state.updates_applied += ok
    if not config.answers_dialled:
        return status, render_update_response(items, located, outcomes, world.directory)
    rng = state.answer_rng
    others = config.p_others > 0 and rng.random() < config.p_others
    state.others += others
    return status, render_dialled(items, located, outcomes, world.directory,
                                  form=config.answer_form, others=others,
                                  rng=rng if config.shuffle else None)


def _apply(state: SimState, items: list[Any], located: list[int | None], key: str,
           delivered: bool = True) -> tuple[list[tuple[int, list[int]]], int, int]:
    """The world applies (links, delinks) the items, except those ``p_not_now`` defers."""
    world = state.world
    p = state.config.p_not_now
    def apply(kept: list[Any], now: float, where: list[int | None]
              ) -> tuple[list[tuple[int, list[int]]], int, int]:
        if key == UPDATES_KEY:
            return world.apply_items(kept, now, where)
        if key == DELINK_BODY_KEY:
            return state.delinks.apply(world, kept, where, delivered=delivered)
        done = link_items(world, kept, now, where)
        state.link_fates.answered(world, kept, where, done[0], delivered)
        return done
    if not p:
        return apply(items, time.time(), located)
    draw = state.decider.uniform
    later = [i is not None and type(item) is dict and draw() < p
             for item, i in zip(items, located, strict=True)]
    keep = [n for n, deferred in enumerate(later) if not deferred]
    done, ok, failed = apply([items[n] for n in keep], time.time(), [located[n] for n in keep])
    applied = iter(done)
    outcomes = []
    for n, deferred in enumerate(later):
        if deferred:
            code = NOT_NOW[n % 2]
            updates = items[n].get(PROGRAMS_OF[key])
            codes = [code] * (len(updates) if type(updates) is list else 0)
            failed += len(codes) or 1
            outcomes.append((1000, codes))
        else:
            outcomes.append(next(applied))
    return outcomes, ok, failed


async def _endless(state: SimState, request: web.Request) -> web.StreamResponse:
    """200 and a body that never ends, until the client hangs up."""
    response = web.StreamResponse(headers={"Content-Type": _JSON})
    await response.prepare(request)
    chunk = b'{"customersPartnerUpdates":[' + b" " * (64 * 1024 - 28)
    try:
        while True:
            await response.write(chunk)
            state.endless_bytes += len(chunk)
            chunk = b" " * len(chunk)
    except (ConnectionError, RuntimeError):
        pass   # the client stopped reading and closed the connection
    return response


async def handle_token(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    moved = state.redirect(request)
    if moved is not None:
        return moved
    config = state.config
    state.token_requests += 1
    if token_hiccup(state.token_requests, config.token_503):
        state.token_503s += 1
        return _errors(503, headers={"Retry-After": "1"})
    try:
        data = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        data = None
    if type(data) is not dict:
        return _errors(400, 400, "Invalid Request: expected {\"key\": ..., \"secret\": ...}")
    if config.username and (data.get("key") != config.client_key
                            or data.get("secret") != config.client_secret):
        state.auth_failures += 1
        return _errors(401)
    body = {"data": {"accessToken": state.issue_token(), "ttlSeconds": config.token_ttl}}
    return web.Response(body=orjson.dumps(body), content_type=_JSON)


async def handle_stats(request: web.Request) -> web.Response:
    try:
        window_s = float(request.query.get("window_s", "1.0"))
    except ValueError:
        window_s = -1.0
    if not window_s > 0:
        return _errors(400, 400, "window_s must be a positive number of seconds")
    stats = request.app[STATE].stats(window_s)
    return web.Response(body=orjson.dumps(stats), content_type=_JSON)


async def handle_applied(request: web.Request) -> web.StreamResponse:
    world = request.app[STATE].world
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    await response.prepare(request)
    lines = []
    for i in sorted(world.applied):
        ident = world.directory.identity(i)
        lines.append(orjson.dumps({
            "customer": i, "id": ident.get("id"), "mobile": ident.get("mobile"),
            "items": world.seen.get(i, 0), "updates": world.applied[i]}))
        if len(lines) >= 1000:  # stream: a log of millions must not become one buffer
            await response.write(b"\n".join(lines) + b"\n")
            lines.clear()
    if lines:
        await response.write(b"\n".join(lines) + b"\n")
    await response.write_eof()
    return response


async def handle_reset(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    return web.Response(body=b'{"reset": true}', content_type=_JSON)


def make_app(config: SimConfig) -> web.Application:
    """The simulator as an aiohttp app; its state lives at ``app[STATE]``."""
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[STATE] = SimState(config, load_world(config))
    app.router.add_post(UPDATE_PATH, handle_update)
    app.router.add_post(LINK_PATH, handle_link)
    app.router.add_post(DELINK_PATH, handle_delink)
    app.router.add_post(TOKEN_PATH, handle_token)
    app.router.add_get("/_sim/stats", handle_stats)
    app.router.add_get("/_sim/applied", handle_applied)
    app.router.add_post("/_sim/reset", handle_reset)
    add_read_routes(app, config.seed, STATE, _hang_up)
    if config.stall_every_s > 0 and config.stall_ms > 0:
        app.cleanup_ctx.append(_stall_now_and_then)
    return app


async def _stall_now_and_then(app: web.Application) -> AsyncIterator[None]:
    """Block the whole server every ``stall_every_s`` for ``stall_ms``, as a
    stop-the-world garbage collection does: requests queue in the kernel meanwhile
    and reach the handlers (and the rate limit's clock) in a bunch afterwards."""
    state = app[STATE]
    config = state.config
    loop = asyncio.get_running_loop()
    handles: list[asyncio.TimerHandle] = []

    def stall() -> None:
        time.sleep(config.stall_ms / 1000)
        state.stalls += 1
        handles[0] = loop.call_later(config.stall_every_s, stall)

    handles.append(loop.call_later(config.stall_every_s, stall))
    yield
    handles[0].cancel()


@dataclass
class RunningSim:
    app: web.Application
    base_url: str
    host: str
    port: int

    def stats(self, window_s: float = 1.0) -> dict[str, Any]:
        """The same dict as ``GET /_sim/stats``."""
        return self.app[STATE].stats(window_s)

    @property
    def world(self) -> World:
        return self.app[STATE].world


@asynccontextmanager
async def serve(config: SimConfig, host: str = "127.0.0.1",
                port: int = 0) -> AsyncIterator[RunningSim]:
    """Run the simulator on loopback for the duration of the ``async with``."""
    if not is_loopback(host):
        raise ValueError(f"the simulator only listens on loopback, not {host!r}")
    app = make_app(config)
    # No access log: one line per request would cost more than the request.
    # A short shutdown timeout: a p_slow answer must not hold up the exit.
    runner = web.AppRunner(app, access_log=None, handle_signals=False,
                           shutdown_timeout=0.5)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, backlog=1024)
        await site.start()
        bound = runner.addresses[0][1]
        shown = f"[{host}]" if ":" in host else host
        yield RunningSim(app, f"http://{shown}:{bound}", host, bound)
    finally:
        for task in list(app[STATE].backend):   # gateway requests still being applied
            task.cancel()
        await runner.cleanup()
