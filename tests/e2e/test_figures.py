"""Figures a user reads (the learned limit, the report after a crash), checked
end to end: the CLI as a user runs it against the simulator in its own process."""

from __future__ import annotations

import csv
import io
import shlex
import signal
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bulkupdate.simulator import SimConfig, write_sample
from tests.helpers import cli, cli_popen, kill_after_results, simulator_process, wait_for_results

LIMIT = 25.0


def test_learned_rate_is_the_servers_limit_despite_faults_and_a_resume(tmp_path: Path) -> None:
    """Against a 25/s limit with 503s, drops and stray 429s, --rate 30/s, a ^C and a
    resume: each session learns the limit seen while saturated, not a value a
    stray 429, the first instants or the sparse tail would teach."""
    sample = tmp_path / "in.jsonl"
    write_sample(sample, SimConfig(customers=20_000), 500)
    run_dir = tmp_path / "run"
    tuning = ["--rate", "30/s", "--batch-size", "1", "--concurrency", "8",
              "--timeout", "1", "--settle", "1", "--max-attempts", "30"]
    with simulator_process("--rate-limit", "25/s", "--p-503", "0.1", "--p-drop", "0.05",
                           "--p-429", "0.03") as sim:
        proc = cli_popen("run", str(sample), "--base-url", sim.base_url,
                         "--run-dir", str(run_dir), *tuning)
        wait_for_results(run_dir, 200, proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        done = cli("resume", str(run_dir), *tuning)
        assert done.returncode in (0, 1), done.stderr
        stats = sim.stats()
        assert stats["faults"]["p_429"] > 0
    sessions = orjson.loads((run_dir / "manifest.json").read_bytes())["sessions"]
    assert len(sessions) == 2
    for session in sessions:
        learned = session["learned_rate"]
        assert learned is not None and learned.endswith("/s"), session
        assert 0.80 * LIMIT <= float(learned[:-2]) <= 1.05 * LIMIT, sessions
    summary = orjson.loads((run_dir / "summary.json").read_bytes())
    assert summary["learned_rate"] == sessions[-1]["learned_rate"]


def test_after_a_kill_the_report_times_every_session_and_metrics_cover_the_run(
        tmp_path: Path) -> None:
    sample = tmp_path / "in.jsonl"
    write_sample(sample, SimConfig(customers=20_000), 400)
    run_dir = tmp_path / "my run"                 # a space: the command must be quoted
    prom = tmp_path / "bulkupdate.prom"
    with simulator_process() as sim:
        proc = cli_popen("run", str(sample), "--base-url", sim.base_url, "--run-dir",
                         str(run_dir), "--rate", "40/s", "--batch-size", "2")
        kill_after_results(run_dir, 100, proc)
        stopped = cli("report", str(run_dir))
        assert f"bulkupdate resume {shlex.quote(str(run_dir))}" in stopped.stdout
        assert "RUN_DIR" not in stopped.stdout
        done = cli("resume", str(run_dir), "--rate", "200/s", "--metrics-file", str(prom))
        assert done.returncode == 1, done.stderr
    sent = [orjson.loads(raw) for raw in (run_dir / "sent.jsonl").read_bytes().splitlines()]
    sends = [e for e in sent if "t" in e]
    killed = [e["t"] for e in sends if e["req"].split("-")[0] == sends[0]["req"].split("-")[0]]
    summary = orjson.loads((run_dir / "summary.json").read_bytes())
    sessions = orjson.loads((run_dir / "manifest.json").read_bytes())["sessions"]
    assert summary["sessions"] == 2 and summary["sessions_killed"] == 1
    # The killed session's time counts: first to last request it journaled.
    assert summary["duration_s"] == pytest.approx(
        sessions[1]["duration_s"] + (max(killed) - min(killed)), abs=0.002)
    assert summary["requests"] == len(sends)
    assert summary["results_per_s"] == round(summary["results"] / summary["duration_s"], 1)
    table = cli("report", str(run_dir)).stdout
    assert f"requests   {len(sends)} in {summary['duration_s']} s over 2 sessions" in table
    # Metrics as Prometheus reads them: the run's scope for every counter.
    families = {f.name: f for f in text_string_to_metric_families(prom.read_text())}
    samples = [s for f in families.values() for s in f.samples]
    assert not [s.name for s in samples if s.name.endswith("_created")]
    info = families["bulkupdate_run_info"].samples[0]
    assert info.value == 1 and info.labels["run_id"] == summary["run_id"]
    assert info.labels["input"] == summary["input"] and info.labels["version"]
    records = {s.labels["outcome"]: s.value for s in families["bulkupdate_records"].samples
               if s.name == "bulkupdate_records_total"}
    assert sum(records.values()) == summary["results"]
    requests = sum(s.value for s in families["bulkupdate_requests"].samples
                   if s.name == "bulkupdate_requests_total")
    assert requests == summary["requests"]
    assert "bulkupdate_throttle_pace_ratio" in families
    assert families["bulkupdate_throttle_pace_ratio"].type == "gauge"


def test_csv_report_has_one_fact_per_column(tmp_path: Path) -> None:
    sample = tmp_path / "in.jsonl"
    write_sample(sample, SimConfig(customers=20_000), 60)
    run_dir = tmp_path / "run"
    with simulator_process() as sim:
        done = cli("run", str(sample), "--base-url", sim.base_url, "--run-dir", str(run_dir),
                   "--rate", "500/s")
        assert done.returncode == 1, done.stderr
    rows = list(csv.DictReader(io.StringIO(cli("report", str(run_dir), "--format",
                                               "csv").stdout)))
    assert {r["uncertain"] for r in rows} <= {"true", "false"}
    assert not any("None" in v for r in rows for v in r.values())
    programs = [r for r in rows if r["program"]]
    assert programs and all(r["update_type"] and r["program_ok"] in ("true", "false")
                            for r in programs)
    assert all(r["code"] and "|" not in r["code"] for r in programs if r["outcome"] == "ok")
    invalid = [r for r in rows if r["outcome"] == "invalid"]
    assert all(r["field"] and not r["program"] and r["program_ok"] == "" for r in invalid)


def test_run_and_validate_say_what_the_input_will_take(tmp_path: Path) -> None:
    sample = tmp_path / "in.jsonl"
    write_sample(sample, SimConfig(customers=20_000), 120)
    checked = cli("validate", str(sample), "--quiet")
    valid = int(checked.stderr.split(" valid")[0].split()[-1])
    assert (f"{valid:,} records at --rate 100/min (the default; pass --rate), 50 a request: "
            "about ") in checked.stderr
    checked = cli("validate", str(sample), "--quiet", "--rate", "1/s", "--batch-size", "1")
    assert f"at --rate 1/s (from --rate), 1 a request: about {valid // 60} min" \
        in checked.stderr
    run_dir = tmp_path / "run"
    with simulator_process() as sim:
        done = cli("run", str(sample), "--base-url", sim.base_url, "--run-dir", str(run_dir),
                   "--rate", "500/s", "--log-format", "text")
        assert done.returncode == 1, done.stderr
    records = sum(1 for line in sample.read_bytes().splitlines() if line.strip())
    assert f"{records} records at --rate 500/s (from --rate), 50 a request: about 0 s" \
        in done.stderr
    events = [orjson.loads(x) for x in (run_dir / "events.jsonl").read_bytes().splitlines()]
    started = next(e for e in events if e["event"] == "run.started")
    assert started["records_left"] == records and started["estimate"] == "0 s"
    piped = cli("run", "-", "--base-url", "http://127.0.0.1:9", "--run-dir",
                str(tmp_path / "stdin"), "--log-format", "text", input="")
    assert "standard input at --rate 100/min (the default; pass --rate)" in piped.stderr
