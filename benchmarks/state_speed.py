"""How fast the state store decides: fill a store with N confirmed customers
(marks and results the way a run writes them), then classify N records in
batches of 500, a tenth of them changed. A quick measurement, not a test:

    .venv/bin/python benchmarks/state_speed.py [--records 1000000] [--url URL]

Without --url it uses a SQLite file in a temporary directory."""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from bulkupdate.state import Intent, open_store

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
EXPIRY = datetime(2027, 12, 29, tzinfo=UTC)
SEND = 50        # records per request: one mark_pending each, as a run does
FILL = 5000      # records per mark when filling


def record(i: int, tier: str) -> tuple[tuple[str, ...], tuple[Intent, ...]]:
    return (f"mobile:9197{i:08d}",), (Intent("P", "UPGRADE", tier, EXPIRY),)


def fill(store: object, run_dir: Path, n: int) -> tuple[float, float]:
    """Mark and confirm n customers; (seconds marking, seconds applying)."""
    results = run_dir / "results.jsonl"
    marking = 0.0
    with results.open("wb") as fh:
        for start in range(0, n, FILL):
            lines = range(start + 1, min(n, start + FILL) + 1)
            t = time.perf_counter()
            store.mark_pending("fill", [(i, *record(i, "Gold")) for i in lines])  # type: ignore[attr-defined]
            marking += time.perf_counter() - t
            fh.write(b"".join(orjson.dumps({
                "line": i, "outcome": "ok", "customerId": i, "programs": [
                    {"partnerProgramName": "P", "updateType": "UPGRADE", "ok": True,
                     "code": 1000}]}) + b"\n" for i in lines))
    t = time.perf_counter()
    store.apply_results("fill", results, now=NOW)  # type: ignore[attr-defined]
    return marking, time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--url")
    args = parser.parse_args()
    n = args.records
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(args.url or str(Path(tmp) / "state.db"), scope="bench")
        store.begin_run("fill", Path(tmp), "update", now=NOW)
        marking, applying = fill(store, Path(tmp), n)
        print(f"fill {n:,}: mark_pending {marking:.1f} s ({FILL}/call), "
              f"apply_results {applying:.1f} s")
        items = [record(i, "Silver" if i % 10 == 0 else "Gold") for i in range(1, n + 1)]
        t, cpu = time.perf_counter(), time.process_time()
        decisions = store.classify(items, now=NOW + timedelta(days=1),
                                   refresh_after=timedelta(days=30), full=False)
        took, cpu = time.perf_counter() - t, time.process_time() - cpu
        sent = sum(d.send for d in decisions)
        print(f"classify {n:,} (batches of 500): {took:.1f} s = {took * 1e6 / n:.1f} s "
              f"per million ({cpu * 1e6 / n:.1f} s of CPU on a shared machine); "
              f"{sent:,} to send")
        t = time.perf_counter()
        absent = store.absent()
        print(f"absent: {time.perf_counter() - t:.2f} s {absent}")
        t = time.perf_counter()
        for start in range(0, 20_000, SEND):
            store.mark_pending("fill", [(i, *record(i, "Silver"))
                                        for i in range(start + 1, start + SEND + 1)])
        print(f"mark_pending: {(time.perf_counter() - t) / (20_000 / SEND) * 1000:.1f} ms per "
              f"request of {SEND}")
        store.close()


if __name__ == "__main__":
    main()
