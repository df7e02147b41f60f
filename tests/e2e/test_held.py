"""Held customers stall nobody: after a dropped connection (fate unknown) a
customer waits ``settle`` before its record or its next update goes again, and
meanwhile the other customers keep being sent and answered."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.helpers import (
    PROGRAM,
    cli,
    cli_env,
    killed_with_a_request_in_flight,
    linked,
    results,
    simulator,
    tier_updates,
    wait_until,
    world_for,
)

WINDOW = 5


def sends(run_dir: Path) -> list[dict[str, Any]]:
    """The requests, in the order they were let go."""
    return [orjson.loads(raw) for raw in (run_dir / "sent.jsonl").read_bytes().splitlines()
            if b'"t"' in raw]


def test_dropped_connections_hold_their_customers_and_no_one_else(tmp_path: Path) -> None:
    """Drops on 10% of requests and a window of one batch: a held batch alone
    would fill it. Between a dropped request and its retry, the log shows the
    others' requests going on — more records than the window holds — while every
    customer still gets its updates once each, in input order."""
    customers = linked(60, world_for())
    src = tmp_path / "in.jsonl"
    last = tier_updates(src, customers, per_customer=2)
    run_dir = tmp_path / "run"
    env = cli_env(BULKUPDATE_WINDOW=str(WINDOW), BULKUPDATE_SETTLE="2",
                  BULKUPDATE_TIMEOUT="2")
    with simulator(p_drop=0.1) as sim:
        done = cli("run", str(src), "--base-url", sim.base_url, "--run-dir", str(run_dir),
                   "--rate", "2000/s", "--batch-size", "5", "--concurrency", "2",
                   "--progress-every", "0.1", env=env)
        stats = sim.stats()
        final = {i: sim.world.link(i, PROGRAM)[0] for i in customers}
    assert done.returncode == 0, done.stderr
    got = results(run_dir)
    assert sorted(got) == list(range(1, 121))
    assert {r["outcome"] for r in got.values()} == {"ok"}
    assert final == last and stats["overlap_violations"] == 0
    assert stats["faults"]["p_drop"] >= 1

    log = sends(run_dir)
    dropped = [i for i, s in enumerate(log)
               if any(set(s["lines"]) & set(t["lines"]) for t in log[i + 1:])]
    assert dropped
    first = dropped[0]
    held = set(log[first]["lines"])
    retry = next(j for j in range(first + 1, len(log)) if held & set(log[j]["lines"]))
    others = [n for s in log[first + 1:retry] for n in s["lines"]]
    assert not held & set(others)
    assert len(others) >= 2 * WINDOW, (first, retry, others)
    # Each line sent once more per drop, never more: counts, not times.
    assert sum(len(s["lines"]) for s in log) == 120 + sum(len(log[i]["lines"]) for i in dropped)

    beats = [orjson.loads(raw) for raw in (run_dir / "events.jsonl").read_bytes().splitlines()
             if b'"run.progress"' in raw]
    assert beats and all("held" in b for b in beats)
    assert max(b["held"] for b in beats) >= 1


def events(run_dir: Path) -> list[dict[str, Any]]:
    return [orjson.loads(raw) for raw in (run_dir / "events.jsonl").read_bytes().splitlines()]


@pytest.mark.parametrize("settled", [False, True], ids=["young", "old"])
def test_resume_holds_a_record_only_for_what_is_left_of_settle(tmp_path: Path,
                                                                settled: bool) -> None:
    """kill -9 while a request is with the API; resume at once (young: the record
    waits the rest of ``settle`` since it was sent, never a whole one from now)
    or once ``settle`` has passed since the send (old: nobody is held)."""
    with simulator(latency_ms=800) as sim:
        run_dir = killed_with_a_request_in_flight(tmp_path, sim)
        killed = sends(run_dir)
        assert killed
        if settled:   # the scenario: settle passes, on the journal's own clock
            settled_at = max(s["t"] for s in killed) + 2.0 + 0.01
            wait_until(lambda: time.time() >= settled_at, what="settle passed since the send")
        resumed = cli("resume", str(run_dir), "--timeout", "2")
        stats = sim.stats()
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(results(run_dir)) == list(range(1, 21))
    assert stats["overlap_violations"] == 0
    log = events(run_dir)
    last_start = max(i for i, e in enumerate(log) if e["event"] == "run.started")
    holds = [e for e in log[last_start:] if e["event"] == "resume.settling"]
    if settled:
        assert holds == []
    else:
        assert len(holds) == 1 and 0 < holds[0]["left_s"] < holds[0]["settle_s"] == 2.0
        again = sends(run_dir)[len(killed):]
        sent_at = {n: s["t"] for s in killed for n in s["lines"]}
        assert all(s["t"] - sent_at[n] >= 2.0 - 0.002
                   for s in again for n in s["lines"] if n in sent_at)
