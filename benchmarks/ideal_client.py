"""The ceiling: the least a client can do, to measure what the simulator allows.

Request bodies are the input lines joined as they are: no validation, no
scheduling, no pacing, no ledger, no response parsing. ``--concurrency`` workers
on one aiohttp session (uvloop when installed, like bulkupdate) send them
back to back. Whatever this client cannot reach, no client can reach against
the same simulator: it tells a limit of the tool from a limit of the test bed.

    CAPILLARY_USERNAME=demo-till CAPILLARY_PASSWORD=demo-pass \\
        python benchmarks/ideal_client.py INPUT --base-url URL --concurrency 32

Prints one JSON line: records, requests, statuses, seconds (first request to
last answer), customers_per_s.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator

import aiohttp

ENDPOINT = "/v2/partnerProgram/customerPartnerProgramUpdate"


def bodies(path: str, batch: int, limit: int) -> Iterator[tuple[int, bytes]]:
    records = 0
    with open(path, "rb") as fh:
        lines: list[bytes] = []
        for raw in fh:
            line = raw.strip()
            if not line:
                continue
            lines.append(line)
            records += 1
            if len(lines) == batch or records == limit:
                yield len(lines), b'{"customersPartnerUpdates":[' + b",".join(lines) + b"]}"
                lines = []
                if records == limit:
                    return
        if lines:
            yield len(lines), b'{"customersPartnerUpdates":[' + b",".join(lines) + b"]}"


async def run(args: argparse.Namespace) -> dict[str, object]:
    digest = hashlib.md5(os.environ["CAPILLARY_PASSWORD"].encode()).hexdigest()
    credential = f"{os.environ['CAPILLARY_USERNAME']}:{digest}".encode()
    headers = {"Content-Type": "application/json",
               "Authorization": "Basic " + base64.b64encode(credential).decode()}
    url = args.base_url.rstrip("/") + ENDPOINT
    source = bodies(args.input, args.batch_size, args.records or -1)
    statuses: dict[str, int] = {}
    counts = {"records": 0, "requests": 0}
    deadline = time.monotonic() + args.max_seconds
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def worker(k: int) -> None:
            # Spread the first requests over --stagger-ms: workers that all start at
            # once stay in lockstep against a fixed latency, and a one-thread server
            # then serves each round as a queue (see benchmarks/README.md).
            await asyncio.sleep(k * args.stagger_ms / 1000 / args.concurrency)
            for count, body in source:   # one shared iterator: each body is sent once
                async with session.post(url, data=body) as resp:
                    await resp.read()
                    status = str(resp.status)
                statuses[status] = statuses.get(status, 0) + 1
                counts["records"] += count
                counts["requests"] += 1
                if time.monotonic() > deadline:
                    return

        started = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(args.concurrency)))
        seconds = time.perf_counter() - started
    return {**counts, "statuses": statuses, "seconds": round(seconds, 3),
            "customers_per_s": round(counts["records"] / seconds, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--records", type=int, default=0, help="send only the first N")
    parser.add_argument("--stagger-ms", type=float, default=0.0,
                        help="spread the workers' first requests over this long "
                             "(e.g. the latency); 0 starts them all at once")
    parser.add_argument("--max-seconds", type=float, default=300.0,
                        help="stop sending after this long (a bound for benchmarks)")
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(run(args))
    else:
        result = uvloop.run(run(args))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
