"""``report`` after ``kill -9``: every format counts what ``results.jsonl`` holds
and the killed session's requests, before any resume (issue 23)."""

from __future__ import annotations

import csv
import io
import re
import signal
from collections import Counter
from pathlib import Path

import orjson
import pytest

from bulkupdate.simulator import SimConfig, write_sample
from tests.helpers import cli, cli_popen, kill_after_results, lines_in, simulator, wait_for_results

N = 1500


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("input") / "night.jsonl"
    write_sample(path, SimConfig(customers=20_000), N)
    return path


def ledger_counts(run_dir: Path) -> Counter[str]:
    return Counter(orjson.loads(raw)["outcome"]
                   for raw in (run_dir / "results.jsonl").read_bytes().splitlines(keepends=True)
                   if raw.endswith(b"\n"))


def requests_sent(run_dir: Path) -> int:
    return sum(1 for raw in (run_dir / "sent.jsonl").read_bytes().splitlines(keepends=True)
               if raw.endswith(b"\n") and b'"t"' in raw)


def killed_at(run_dir: Path, args: list[str], results: int) -> None:
    proc = cli_popen(*args)
    kill_after_results(run_dir, results, proc)


def assert_every_format_fresh(run_dir: Path, sessions: int) -> None:
    counts = ledger_counts(run_dir)
    total = sum(counts.values())
    shown = orjson.loads(cli("report", str(run_dir), "--format", "json").stdout)
    assert shown["results"] == total and not shown["complete"]
    assert {k: v for k, v in shown["outcomes"].items() if v} == dict(counts)
    assert shown["sessions"] == sessions and shown["sessions_killed"] >= 1
    assert shown["requests"] == requests_sent(run_dir)
    table = cli("report", str(run_dir)).stdout
    assert re.search(rf"records\s+{total} of {shown['input_records']} reported", table), table
    assert f"over {sessions} session{'s' if sessions > 1 else ''}" in table
    assert "killed" in table
    for name, count in counts.items():
        assert re.search(rf"^\s+{name}\s+{count}$", table, re.M), (name, table)
    rows = list(csv.DictReader(io.StringIO(cli("report", str(run_dir), "--format", "csv").stdout)))
    assert len({r["line"] for r in rows}) == total
    page = cli("report", str(run_dir), "--format", "html").stdout
    for name, count in counts.items():
        assert f"{name} <b>{count:,}</b>" in page, name
    assert "killed" in page


def test_report_after_a_killed_first_session_counts_the_ledger(
        tmp_path: Path, sample: Path) -> None:
    run_dir = tmp_path / "run"
    with simulator(latency_ms=40) as sim:
        killed_at(run_dir, ["run", str(sample), "--base-url", sim.base_url, "--rate", "40/s",
                            "--run-dir", str(run_dir)], 300)
    assert not (run_dir / "summary.json").exists()
    assert_every_format_fresh(run_dir, sessions=1)


def test_report_after_ctrl_c_then_a_killed_resume_is_not_stale(
        tmp_path: Path, sample: Path) -> None:
    run_dir = tmp_path / "run"
    with simulator(latency_ms=40) as sim:
        proc = cli_popen("run", str(sample), "--base-url", sim.base_url, "--rate", "40/s",
                         "--run-dir", str(run_dir))
        wait_for_results(run_dir, 200, proc)
        proc.send_signal(signal.SIGINT)
        proc.communicate()
        assert proc.returncode == 130
        stale = orjson.loads((run_dir / "summary.json").read_bytes())
        killed_at(run_dir, ["resume", str(run_dir)], stale["results"] + 300)
    assert lines_in(run_dir / "results.jsonl") > stale["results"]
    assert_every_format_fresh(run_dir, sessions=2)
    # The report reads: it never rewrote the stale summary.
    assert orjson.loads((run_dir / "summary.json").read_bytes()) == stale
