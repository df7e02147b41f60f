"""The afternoon script: what a user writes instead of bulkupdate.

Read the JSONL, 50 records a request, one request at a time with the standard
library, count what came back. No concurrency, no pacing, no retries, no ledger.
``run.py`` runs it on the same input and latency as bulkupdate and reports the ratio.

    CAPILLARY_USERNAME=demo-till CAPILLARY_PASSWORD=demo-pass \\
        python benchmarks/naive_client.py INPUT --base-url http://127.0.0.1:PORT

Prints one JSON line: records, requests, statuses, seconds, customers_per_s.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import sys
import time
import urllib.error
import urllib.request

ENDPOINT = "/v2/partnerProgram/customerPartnerProgramUpdate"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--max-seconds", type=float, default=600.0,
                        help="stop sending after this long (a bound for benchmarks)")
    args = parser.parse_args()

    user = os.environ["CAPILLARY_USERNAME"]
    password = os.environ["CAPILLARY_PASSWORD"]
    digest = hashlib.md5(password.encode()).hexdigest()
    auth = "Basic " + base64.b64encode(f"{user}:{digest}".encode()).decode()
    url = args.base_url.rstrip("/") + ENDPOINT
    headers = {"Content-Type": "application/json", "Authorization": auth}

    started = time.monotonic()
    statuses: dict[str, int] = {}
    records = requests = ok = 0

    def post(batch: list[dict]) -> None:
        nonlocal requests, ok
        body = json.dumps({"customersPartnerUpdates": batch}).encode()
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                status, payload = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, payload = exc.code, exc.read()
        requests += 1
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        try:
            answer = json.loads(payload)
        except ValueError:
            return
        for item in answer.get("customersPartnerUpdates") or ():
            ok += all(u.get("updateStatus", {}).get("status")
                      for u in item.get("partnerProgramUpdates") or ())

    batch: list[dict] = []
    with open(args.input, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            batch.append(json.loads(line))
            records += 1
            if len(batch) == args.batch_size:
                post(batch)
                batch = []
                if time.monotonic() - started > args.max_seconds:
                    break
    if batch:
        post(batch)
    seconds = time.monotonic() - started
    print(json.dumps({"records": records, "requests": requests, "statuses": statuses,
                      "ok": ok, "seconds": round(seconds, 3),
                      "customers_per_s": round(records / seconds, 1) if seconds else None}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
