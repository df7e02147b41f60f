"""``bulkupdate simulate``: flags → SimConfig → serve until SIGINT/SIGTERM.

Prints exactly one line, ``simulator listening on http://127.0.0.1:PORT``, and
flushes it, so a parent process started with ``--port 0`` can learn the port.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import signal
import sys
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from ..settings import is_loopback
from .config import ANSWER_FORMS, DELINK_FORMS, FAULT_DIALS, READ_DIALS, SimConfig
from .rehearsal import describe_rehearsal
from .server import serve

_UNITS = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0}


def parse_rate_limit(text: str) -> tuple[float, float | None]:
    """``"N/s"``, ``"N/min"`` or a bare ``"N"`` → (N, period seconds or None)."""
    number, _, unit = text.strip().partition("/")
    try:
        value = float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected N/s, N/min or a number per second") from None
    period = None
    if unit:
        period = _UNITS.get(unit.strip().lower())
        if period is None:
            raise argparse.ArgumentTypeError(f"{text!r}: the unit is /s or /min")
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a rate cannot be negative")
    return value, period


def _probability(text: str) -> float:
    try:
        p = float(text)
    except ValueError:
        p = -1.0
    if not 0.0 <= p <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r}: a probability is a number in [0, 1]")
    return p


def add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    """Every SimConfig field as a flag, plus --host/--port."""
    d = SimConfig()
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="loopback address to listen on (default %(default)s)")
    add("--port", type=int, default=8080, help="port; 0 picks a free one (default %(default)s)")
    add("--seed", type=int, default=d.seed, help="world and fault seed (default %(default)s)")
    add("--customers", type=int, default=d.customers, help="world size (default %(default)s)")
    add("--world", dest="world_file", metavar="FILE", default=None,
        help="JSON world file instead of the formula world (docs/rehearsal.md)")
    add("--world-from", metavar="INPUT", default=None,
        help="a world holding the customers and programs of INPUT, tonight's JSONL or CSV "
             "file: rehearse it (docs/rehearsal.md)")
    add("--no-relinking", dest="allow_relinking", action="store_false",
        help="org setting ALLOW_MEMBERSHIP_RELINKING off (cancel → 2026, renewal allowed)")
    add("--username", default=d.username, help="Basic auth till (default %(default)s)")
    add("--password", default=d.password, help="Basic auth password (fake; demo only)")
    add("--no-auth", action="store_true", help="accept requests without credentials")
    add("--client-key", default=d.client_key, help="OAuth key (default %(default)s)")
    add("--client-secret", default=d.client_secret, help="OAuth secret (fake; demo only)")
    add("--token-ttl", type=int, default=d.token_ttl, help="OAuth token seconds")
    add("--token-503", type=int, default=d.token_503, metavar="N",
        help="the token endpoint answers 503 (Retry-After: 1) N times before each token")
    add("--token-revoke-s", type=float, default=d.token_revoke_s, metavar="S",
        help="revoke each OAuth token S seconds after issue, before its ttl (a key "
        "rotation, a server restart): the client must renew it; 0 = never")
    _add_fault_arguments(add, d)


def _add_fault_arguments(add: Callable[..., Any], d: SimConfig) -> None:
    """The flags of the server's limits, latency and faults."""
    add("--max-batch", type=int, default=d.max_batch, help="items per request accepted")
    add("--batch-error-code", type=int, choices=(2008, 1060), default=d.batch_error_code,
        help="code answered above --max-batch (default %(default)s)")
    add("--latency-ms", type=float, default=d.latency_ms, help="added to each answer")
    add("--jitter-ms", type=float, default=d.jitter_ms, help="uniform +/- on the latency")
    add("--rate-limit", type=parse_rate_limit, default=(0.0, None), metavar="RATE",
        help="N/s, N/min or N (per second); excess answers 429 + Retry-After; 0 = off")
    add("--rate-period", type=float, default=None,
        help="window seconds for a bare --rate-limit number (default 1)")
    for name in FAULT_DIALS + READ_DIALS:
        add("--" + name.replace("_", "-"), dest=name, type=_probability, default=0.0,
            metavar="P", help=f"probability of the {name[2:]} fault per request")
    add("--slow-s", type=float, default=d.slow_s, help="delay of a p-slow answer")
    add("--fail-auth", action="store_true", help="answer 401 to every update request")
    add("--no-track", dest="track", action="store_false",
        help="keep no applied-update log (benchmarks)")
    add("--gateway-s", type=float, default=d.gateway_s,
        help="a p-gateway request answers 504 after this many seconds")
    add("--gateway-apply-s", type=float, default=d.gateway_apply_s,
        help="... while the API applies it this many seconds after arrival")
    add("--p-not-now", type=_probability, default=0.0, metavar="P",
        help="probability per item of a 2010/2001 'not now' answer (nothing applied)")
    add("--retry-after", default="", metavar="VALUE",
        help="Retry-After of every 429/461/503 fault answer (seconds or an HTTP date)")
    add("--redirect-to", default="", metavar="URL",
        help="answer every request with a redirect to URL + the request path")
    add("--redirect-status", type=int, default=d.redirect_status,
        help="status of those redirects (default %(default)s)")
    add("--endless-body", action="store_true",
        help="answer updates with 200 and a body that never ends")
    add("--stall-every", dest="stall_every_s", type=float, default=d.stall_every_s,
        metavar="S", help="stall the whole server every S seconds (0 = never)")
    add("--stall-ms", type=float, default=d.stall_ms, metavar="MS",
        help="how long each stall lasts: requests queue meanwhile, then arrive in a bunch")
    add("--answer-form", choices=ANSWER_FORMS, default=d.answer_form,
        help="how answers name customers: 'stored' as the API stores them (all four "
             "identifiers, mobile with its country code, email lower-cased), 'echo' as sent "
             "(default %(default)s)")
    add("--shuffle", action="store_true",
        help="answer items, and each item's programs, in another order than sent")
    add("--p-others", type=_probability, default=0.0, metavar="P",
        help="probability per request that the answer names other customers than it applied")
    add("--delink-form", choices=DELINK_FORMS, default=d.delink_form,
        help="the delink answer's shape: 'delink' (deLinkCustomers ... partnerDeLinkStatus) "
             "or 'update' (the update API's sample, as the current docs show) "
             "(default %(default)s)")
    add("--first-customer-only", action="store_true",
        help="delink requests: process and answer only the first customer (no batch support)")


def config_from_args(ns: argparse.Namespace) -> SimConfig:
    """The SimConfig the parsed flags describe (ValueError says what to fix)."""
    rate, unit_period = ns.rate_limit
    period = unit_period or ns.rate_period or 1.0
    dials = {name: getattr(ns, name) for name in FAULT_DIALS + READ_DIALS}
    return SimConfig(
        seed=ns.seed, customers=ns.customers, allow_relinking=ns.allow_relinking,
        username=None if ns.no_auth else ns.username, password=ns.password,
        client_key=ns.client_key, client_secret=ns.client_secret, token_ttl=ns.token_ttl,
        token_503=ns.token_503, token_revoke_s=ns.token_revoke_s, max_batch=ns.max_batch,
        batch_error_code=ns.batch_error_code,
        latency_ms=ns.latency_ms, jitter_ms=ns.jitter_ms, rate_limit=rate, rate_period=period,
        slow_s=ns.slow_s, fail_auth=ns.fail_auth, track=ns.track, world_file=ns.world_file,
        world_from=ns.world_from,
        gateway_s=ns.gateway_s, gateway_apply_s=ns.gateway_apply_s, p_not_now=ns.p_not_now,
        retry_after=ns.retry_after, redirect_to=ns.redirect_to,
        redirect_status=ns.redirect_status, endless_body=ns.endless_body,
        stall_every_s=ns.stall_every_s, stall_ms=ns.stall_ms, answer_form=ns.answer_form,
        shuffle=ns.shuffle, p_others=ns.p_others, delink_form=ns.delink_form,
        first_customer_only=ns.first_customer_only, **dials)


def simulate_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bulkupdate simulate",
        description="Serve a local stand-in for customerPartnerProgramUpdate on loopback.")
    add_simulate_arguments(parser)
    try:
        ns = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else 2
    if not is_loopback(ns.host):
        print(f"bulkupdate simulate: refusing to listen on {ns.host!r}: loopback only",
              file=sys.stderr)
        return 2
    thresholds = gc.get_threshold()
    try:
        config = config_from_args(ns)
        # A process that only serves: startup objects never die, and the garbage
        # per request is acyclic. Fewer collections are worth ~10% more requests/s.
        gc.freeze()
        gc.set_threshold(20_000, 50, 1000)
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            return runner.run(_serve_until_signal(config, ns.host, ns.port))
    except (ValueError, OSError) as exc:
        print(f"bulkupdate simulate: {exc}", file=sys.stderr)
        return 2
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    # uvloop roughly doubles the requests per second the simulator can answer.
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


async def _serve_until_signal(config: SimConfig, host: str, port: int) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(sig, stop.set)
    try:
        async with serve(config, host, port) as sim:
            print(f"simulator listening on {sim.base_url}", flush=True)
            describe_rehearsal(sim.world, asdict(config), sys.stderr, mine=bool(config.world_from),
                     base_url=sim.base_url)
            await stop.wait()
    finally:
        for sig in signals:
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)
    return 0
