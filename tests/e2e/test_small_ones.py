"""The small ones of issue 23, from the command line: verify's estimate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from tests.helpers import cli, linked_spp_ids

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
