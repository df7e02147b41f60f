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
from tests.helpers import cli, cli_popen, kill_after_results, results, simulator


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


def test_after_kill_9_and_resume_the_error_files_hold_both_sessions_lines(
        tmp_path: Path) -> None:
    """The reasons of the first session's lines come back from ``results.jsonl``
    on resume; those of the second from the results as they are written."""
    src = tmp_path / "night.jsonl"
    write_sample(src, SimConfig(customers=20_000), 1_500)
    run_dir = tmp_path / "run"
    with simulator(latency_ms=20) as sim:
        proc = cli_popen("run", str(src), "--base-url", sim.base_url, "--run-dir",
                         str(run_dir), "--rate", "40/s", "--concurrency", "2")
        kill_after_results(run_dir, 300, proc)
        first = set(results(run_dir))
        assert 300 <= len(first) < 1_500
        resumed = cli("resume", str(run_dir), "--rate", "400/s")
    assert resumed.returncode == 1, resumed.stderr
    got = results(run_dir)
    to_fix = {line for line, r in got.items()
              if r["outcome"] in ("rejected", "invalid", "partial")}
    assert to_fix & first and to_fix - first       # lines to fix from each session
    inputs = src.read_bytes().splitlines()
    errors = [orjson.loads(raw) for raw in (run_dir / "errors.jsonl").read_bytes().splitlines()]
    assert len(errors) == len(to_fix)
    for line, error in zip(sorted(to_fix), errors, strict=True):   # in input order
        assert error.pop("error")
        raw = inputs[line - 1]
        if "input" in error:                 # not JSON: the line as text
            assert error["input"] == raw.decode("utf-8", "replace")
            continue
        item = orjson.loads(raw)
        assert (error.get("customer"), error.get("ref")) == (item.get("customer"),
                                                             item.get("ref")), line
        if got[line]["outcome"] == "partial":
            failed = {p["partnerProgramName"] for p in got[line]["programs"] if not p["ok"]}
            assert {p["partnerProgramName"] for p in error["partnerProgramUpdates"]} == failed
    rows = list(csv.DictReader(io.StringIO((run_dir / "errors.csv").read_text())))
    assert len(rows) >= len(errors) and all(r["error"] for r in rows)
