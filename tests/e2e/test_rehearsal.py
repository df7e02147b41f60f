"""Rehearsing tonight's file (issue 23): `simulate --world-from INPUT` serves a
world of the file's own customers and programs; the night runs on it as planned."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.helpers import cli, results, simulator_process

EXPIRY = "2031-01-01T00:00:00Z"


def test_a_night_of_my_own_programs_rehearses_green(tmp_path: Path) -> None:
    src = tmp_path / "tonight.jsonl"
    lines = [{"customer": {"mobile": f"97400{n:05d}"}, "partnerProgramUpdates": [
        {"partnerProgramName": "Coffee-Club", "updateType": "UPGRADE",
         "updateDetails": {"updatedTierName": ("Silver", "Gold")[n % 2],
                           "updatedTierExpiryDate": EXPIRY}}]} for n in range(40)]
    lines.append({"customer": {"email": "Ann@Example.com"}, "partnerProgramUpdates": [
        {"partnerProgramName": "Book-Club", "updateType": "RENEW",
         "updateDetails": {"updatedTierName": "Reader"}}]})
    src.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    with simulator_process("--world-from", str(src)) as sim:
        proc = cli("run", str(src), "--base-url", sim.base_url, "--run-dir", str(tmp_path / "r"))
        assert proc.returncode == 0, proc.stderr
        assert sim.stats()["updates_applied"] == 41
    got = results(tmp_path / "r")
    assert {r["outcome"] for r in got.values()} == {"ok"}
    assert len(got) == 41
