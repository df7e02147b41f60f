"""The client's pacing alone, no network: how many requests per second does
``bulkupdate.throttle.Throttle`` let through at ``--rate R``?

The rate-bound scenario measures the whole client; this isolates the throttle,
so a shortfall there can be attributed (or not) to the pacing itself. Run on
uvloop (what the client uses when installed) and on the stdlib loop.

    python benchmarks/pace_check.py [--rate 100/s] [--seconds 3]

Prints one JSON line: {"uvloop": acquires/s, "asyncio": acquires/s, "rate": R/s}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", default="100/s")
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
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
