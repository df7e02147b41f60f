"""The error file to fix and reload (issue 23): in the run directory, named by
every report, and runnable as it is."""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from bulkupdate.simulator import SimConfig, write_sample
from tests.helpers import cli, results


def test_rejected_invalid_and_partial_lines_come_back_with_why_and_run_again(
        tmp_path: Path, sim: Any) -> None:
    src = tmp_path / "night.jsonl"
    write_sample(src, SimConfig(customers=20_000), 600)
    run_dir = tmp_path / "run"
    proc = cli("run", str(src), "--base-url", sim.base_url, "--run-dir", str(run_dir))
    assert proc.returncode == 1, proc.stderr
    got = results(run_dir)
    counts = Counter(r["outcome"] for r in got.values())
    errors = [orjson.loads(raw) for raw in (run_dir / "errors.jsonl").read_bytes().splitlines()]
    assert len(errors) == counts["rejected"] + counts["invalid"] + counts["partial"]
    assert all(e["error"] for e in errors)
    partial = next(r for r in got.values() if r["outcome"] == "partial")
    failed = {p["partnerProgramName"] for p in partial["programs"] if not p["ok"]}
    mine = [e for e in errors if e.get("customer") == partial["customer"]
            and e.get("ref") == partial.get("ref")]
    assert any({p["partnerProgramName"] for p in e["partnerProgramUpdates"]} == failed
               for e in mine)
    # Every report names it, with its counts.
    table = cli("report", str(run_dir)).stdout
    assert f"to fix:     {run_dir / 'errors.jsonl'}" in table
    assert f"{counts['rejected']} rejected, {counts['invalid']} invalid" in table
    shown = orjson.loads(cli("report", str(run_dir), "--format", "json").stdout)["errors"]
    assert shown["file"] == str(run_dir / "errors.jsonl") and shown["partial"] == counts["partial"]
    page = cli("report", str(run_dir), "--format", "html").stdout
    assert "errors.jsonl" in page and "errors.csv" in page
    # The CSV view: identifiers as text, one row per program update.
    rows = list(csv.DictReader(io.StringIO((run_dir / "errors.csv").read_text())))
    assert rows and all(r["error"] for r in rows)
    assert all(r["mobile"].startswith('="') for r in rows if r["mobile"])
    # As it is: "error" accepted and ignored; what was valid is sent again.
    before = sim.stats()["items"]
    proc = cli("run", str(run_dir / "errors.jsonl"), "--base-url", sim.base_url,
               "--run-dir", str(tmp_path / "again"))
    assert proc.returncode == 1, proc.stderr
    again = results(tmp_path / "again")
    assert not any(r["outcome"] == "invalid" and r["field"] == "error" for r in again.values())
    sent = sum(1 for r in again.values() if r["outcome"] != "invalid")
    assert sent >= counts["rejected"] + counts["partial"]
    assert sim.stats()["items"] - before == sent
    proc = cli("validate", str(run_dir / "errors.csv"))
    assert proc.returncode == 1 and "unknown CSV column" not in proc.stderr
