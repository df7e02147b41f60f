"""The small ones of issue 23, from the command line: verify's and run --verify's estimate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from tests.helpers import (
    cli,
    linked,
    linked_spp_ids,
    max_in_window,
    send_times,
    simulator,
    tier_updates,
)

EXPIRY = "2031-01-01T00:00:00Z"


def test_verify_prints_reads_rate_and_time_before_reading(tmp_path: Path, sim: Any) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"".join(orjson.dumps({"customer": {"id": i}, "partnerProgramUpdates": [
        {"partnerProgramName": "SPP_1", "updateType": "RENEW",
         "updateDetails": {"updatedTierName": "Plus", "updatedTierExpiryDate": EXPIRY}}]})
        + b"\n" for i in linked_spp_ids(sim, 6)))
    run_dir = tmp_path / "run"
    assert cli("run", str(src), "--base-url", sim.base_url, "--run-dir", str(run_dir),
               "--rate", "60/s").returncode == 0
    proc = cli("verify", str(run_dir), "--sample", "4", "--log-format", "text",
               "--rate", "240/min")
    assert proc.returncode == 0, proc.stderr
    first = proc.stderr.splitlines()[0]
    assert first == ("bulkupdate: verify reads back 4 records, one read each, at --rate 240/min: "
                     "about 1 s (more with retries and 429s)"), proc.stderr


def test_run_verify_says_its_reads_before_reading(tmp_path: Path) -> None:
    with simulator(customers=300, p_lost=0.4) as sim:
        src = tmp_path / "night.jsonl"
        tier_updates(src, linked(20, sim.world), per_customer=1)
        run_dir = tmp_path / "run"
        proc = cli("run", str(src), "--base-url", sim.base_url, "--run-dir", str(run_dir),
                   "--batch-size", "1", "--max-attempts", "1", "--rate", "1000/s", "--verify",
                   "--log-format", "text")
    uncertain = orjson.loads((run_dir / "summary.json").read_bytes())["uncertain"]
    assert uncertain > 0
    assert (f"bulkupdate: verify reads back {uncertain} record{'s' if uncertain > 1 else ''}, "
            "one read each, at --rate 1000/s") in proc.stderr


def test_a_per_minute_rate_holds_its_share_of_every_second_in_sent_jsonl(
        tmp_path: Path) -> None:
    with simulator(customers=300) as sim:
        src = tmp_path / "night.jsonl"
        tier_updates(src, linked(36, sim.world), per_customer=1)
        run_dir = tmp_path / "run"
        proc = cli("run", str(src), "--base-url", sim.base_url, "--run-dir", str(run_dir),
                   "--batch-size", "1", "--rate", "230/min")
        assert proc.returncode == 0, proc.stderr
    times = send_times(run_dir)
    assert len(times) == 36
    assert max_in_window(times, 1.0) <= 4      # ceil(230 / 60)
