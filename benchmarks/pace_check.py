"""The client's pacing alone, no network: how many requests per second does
``bulkupdate.throttle.Throttle`` let through at ``--rate R``?

The rate-bound scenario measures the whole client; this isolates the throttle,
so a shortfall there can be attributed (or not) to the pacing itself. Run on
uvloop (what the client uses when installed) and on the stdlib loop.

    python benchmarks/pace_check.py [--rate 100/s] [--seconds 3]

Prints one JSON line: {"uvloop": acquires/s, "asyncio": acquires/s, "rate": R/s}.

With ``--server-limit``, the pacing against a server that counts per second: a
real ``bulkupdate run`` at ``--rate`` against the simulator in its own process
(``--rate-limit``), for about ``--seconds``:

    python benchmarks/pace_check.py --server-limit 4/s --rate 230/min --seconds 60

prints {"share_429": 429s / requests, "busiest_server_second": most arrivals in
any sliding second as the server saw them, "achieved_share": admitted requests
per second of the run / the server's limit} (issue 23's targets: <= 1 %, <= 4,
>= 90 %).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from bulkupdate.engine.throttle import Throttle
from bulkupdate.settings import parse_rate


async def measure(rate_text: str, seconds: float) -> float:
    rate = parse_rate(rate_text)
    throttle = Throttle(rate)
    count = max(2, int(rate.per_second * seconds))
    await throttle.acquire()            # the first slot is free: time the steady state
    started = time.perf_counter()
    for _ in range(count):
        await throttle.acquire()
    return count / (time.perf_counter() - started)


def against_server(limit_text: str, rate_text: str, seconds: float) -> dict[str, object]:
    """A whole run at ``rate_text`` against a simulator limited to ``limit_text``."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from harness import Simulator, generate_input, run_client

    limit, rate = parse_rate(limit_text), parse_rate(rate_text)
    batch = 10
    requests = max(10, int(rate.per_second * seconds))
    records = requests * batch
    with Simulator("pace-check", customers=records + 10, rate_limit=limit_text) as sim:
        run = run_client("pace-check", generate_input(records), records, sim, rate=rate_text,
                         concurrency=4, batch_size=batch, timeout=seconds * 4 + 60)
    server = run.server
    statuses = server["status_counts"]
    sent = server["requests"] or 1
    accepted = sent - int(statuses.get("429", 0))
    in_run = run.in_run_s or 1.0
    return {"server_limit": limit_text, "rate": rate_text, "requests": sent,
            "share_429": round(int(statuses.get("429", 0)) / sent, 4),
            "busiest_server_second": server["max_window"],
            "achieved_per_s": round(accepted / in_run, 2),
            "achieved_share": round(accepted / in_run / limit.per_second, 3),
            "learned_rate": run.summary.get("learned_rate"), "exit_code": run.measured.exit_code}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", default="100/s")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--server-limit", help="e.g. 4/s: a whole run against the simulator")
    args = parser.parse_args()
    if args.server_limit:
        print(json.dumps(against_server(args.server_limit, args.rate, args.seconds)))
        return 0
    out: dict[str, object] = {"rate": parse_rate(args.rate).per_second}
    try:
        import uvloop
    except ImportError:
        out["uvloop"] = None
    else:
        out["uvloop"] = round(uvloop.run(measure(args.rate, args.seconds)), 2)
    out["asyncio"] = round(asyncio.run(measure(args.rate, args.seconds)), 2)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
