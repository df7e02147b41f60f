"""Faults, throttling, crashes and signals, against the real simulator."""

from __future__ import annotations

import io
import signal
from pathlib import Path
from typing import Any

import orjson
import pytest

from bulkupdate import run
from bulkupdate.engine.throttle import SLACK
from bulkupdate.report import write_report
from bulkupdate.settings import parse_rate
from bulkupdate.simulator import RunningSim, SimConfig, generate_sample, write_sample
from tests.helpers import (
    cli,
    cli_popen,
    events_named,
    fast_settings,
    kill_after_results,
    max_in_window,
    results,
    send_times,
    simulator,
    simulator_process,
    wait_for_results,
    wait_until,
)

N = 3000
WORLD = SimConfig(customers=20_000)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("input") / "mixed.jsonl"
    write_sample(path, WORLD, N)
    return path


@pytest.fixture(scope="module")
def expected() -> dict[int, dict[str, Any]]:
    return {i: exp for i, (_, exp) in enumerate(generate_sample(WORLD, N), 1)}


def check_ledger(run_dir: Path, expected: dict[int, dict[str, Any]], sim: RunningSim,
                 *, allow_retryable: bool = False) -> dict[int, dict[str, Any]]:
    """Every non-blank line exactly once; outcomes as expected, except where an
    attempt's fate was unknown (a re-send may meet a changed world) — and those
    must say so; every accepted update really applied, in input order."""
    got = results(run_dir)
    records = {line for line, e in expected.items() if e["outcome"] != "blank"}
    assert set(got) == records
    applied: dict[int, list[tuple[str, str]]] = {
        i: [(p, k) for p, k, _ in updates] for i, updates in sim.world.applied.items()}
    wanted: dict[int, list[tuple[str, str]]] = {}
    for line in sorted(records):
        result, want = got[line], expected[line]
        if result["outcome"] == "retryable":
            assert allow_retryable, result
            continue
        if result["outcome"] != want["outcome"] or (
                want["outcome"] != "invalid"
                and [p["code"] for p in result["programs"]] != want["codes"]):
            assert result.get("uncertain"), (line, want, result)
            continue
        if want["outcome"] == "invalid":
            assert result["field"] == want["field"]
            continue
        for program in result["programs"]:
            if program["ok"]:
                wanted.setdefault(want["customer"], []).append(
                    (program["partnerProgramName"], program["updateType"]))
    for customer, updates in wanted.items():
        log = iter(applied.get(customer, []))
        assert all(u in log for u in updates), f"customer {customer}: {updates} not applied " \
                                               f"in order: {applied.get(customer)}"
    return got


def test_faults_of_every_kind_lose_nothing_and_report_the_truth(
        tmp_path: Path, sample: Path, expected: dict[int, dict[str, Any]]) -> None:
    dials = dict(p_503=0.05, p_drop=0.02, p_truncate=0.02, p_lost=0.01, p_502=0.01,
                 p_461=0.01, p_521=0.01, p_429=0.01, p_slow=0.005, slow_s=1.0,
                 latency_ms=2, jitter_ms=2)
    with simulator(**dials) as sim:
        outcome = run(sample, fast_settings(sim.base_url, max_attempts=12, timeout=0.5),
                      run_dir=tmp_path / "run")
        stats = sim.stats()
        got = check_ledger(tmp_path / "run", expected, sim)
    assert outcome.exit_code == 1
    assert outcome.summary["complete"] and outcome.summary["transient_answers"] > 0
    assert sum(stats["faults"].values()) > 5
    assert stats["overlap_violations"] == 0
    assert any(r.get("uncertain") for r in got.values())
    assert max(r["attempts"] for r in got.values()) > 1


@pytest.mark.parametrize(("dial", "uncertain"), [
    ("p_429", False), ("p_461", False), ("p_521", False), ("p_503", False),
    ("p_500", True), ("p_502", True), ("p_504", True), ("p_drop", True),
    ("p_lost", True), ("p_truncate", True), ("p_slow", True),
])
def test_each_fault_dial_alone(tmp_path: Path, sample: Path, expected: dict[int, dict[str, Any]],
                               dial: str, uncertain: bool) -> None:
    """One dial at a time, turned up: nothing lost, nothing wrong, and 'uncertain'
    exactly where the server may have applied an unanswered attempt."""
    # Where every fate is known, a short timeout would turn a busy machine's late
    # answer into an unknown fate, and the test would be about the machine, not
    # the dial. Where fates are unknown anyway, it is short: settle waits for it.
    timeout = 0.3 if uncertain else 30.0
    with simulator(**{dial: 0.2, "slow_s": 0.6}) as sim:
        outcome = run(sample, fast_settings(sim.base_url, max_attempts=15, timeout=timeout,
                                            concurrency=16),
                      run_dir=tmp_path / "run")
        assert sim.stats()["faults"][dial] > 0
        got = check_ledger(tmp_path / "run", expected, sim)
    assert outcome.summary["complete"] and outcome.summary["transient_answers"] > 0
    assert any(r.get("uncertain") for r in got.values()) is uncertain


def test_retryable_after_max_attempts_goes_to_retry_jsonl(tmp_path: Path) -> None:
    lines = [orjson.dumps({"ref": f"x{i}", "customer": {"id": 100000 + i},
                           "partnerProgramUpdates": [{"partnerProgramName": "SPP_1",
                                                      "updateType": "RENEW",
                                                      "updateDetails": {
                                                          "updatedTierName": "Plus"}}]})
             for i in range(30)]
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    with simulator(p_503=1.0) as sim:
        outcome = run(src, fast_settings(sim.base_url, max_attempts=3), run_dir=tmp_path / "run")
        assert sim.stats()["requests"] == 3
    got = results(tmp_path / "run")
    assert outcome.exit_code == 1
    assert {r["outcome"] for r in got.values()} == {"retryable"}
    assert all(r["attempts"] == 3 and "503" in r["error"] for r in got.values())
    assert not any(r.get("uncertain") for r in got.values())   # 503: refused, not applied
    assert (tmp_path / "run" / "retry.jsonl").read_bytes() == src.read_bytes()


def test_rate_holds_in_every_sliding_window_retries_included(tmp_path: Path,
                                                              sample: Path) -> None:
    """Measured where the contract defines --rate: the client's send log. The
    server's arrival times would add the scheduler's jitter on a busy machine,
    which says nothing about the pace the client kept."""
    with simulator_process("--customers", "20000", "--p-503", "0.1") as sim:
        run(sample, fast_settings(sim.base_url, rate=parse_rate("40/s"), batch_size=25),
            run_dir=tmp_path / "run")
        retried = sim.stats()["faults"]["p_503"]
    times = send_times(tmp_path / "run")
    assert len(times) > 80 and retried > 0
    assert max_in_window(times, 1.0) <= 40
    # Smooth: half a period sees half the allowance plus the catch-up slack, never
    # a burst of the whole period's 40.
    assert max_in_window(times, 0.5) <= 20 + SLACK + 2


def test_server_limit_below_ours_slows_down_and_finishes(
        tmp_path: Path, sample: Path, expected: dict[int, dict[str, Any]]) -> None:
    with simulator(rate_limit=25, rate_period=1.0) as sim:
        outcome = run(sample, fast_settings(sim.base_url, rate=parse_rate("60/s"),
                                            batch_size=20, max_attempts=20),
                      run_dir=tmp_path / "run")
        stats = sim.stats()
        check_ledger(tmp_path / "run", expected, sim)
    assert stats["status_counts"].get("429", 0) > 0
    assert outcome.summary["throttled_answers"] > 0
    assert max_in_window(send_times(tmp_path / "run"), 1.0) <= 60     # --rate still holds
    # Adaptive: far fewer 429s than requests once the limit has been learned.
    assert stats["status_counts"]["429"] < stats["accepted"] / 2
    # The operator is told what the server admitted (never more than was sent).
    learned = outcome.summary["learned_rate"]
    assert learned.endswith("/s") and 1 <= float(learned[:-2]) <= 60
    events = (tmp_path / "run" / "events.jsonl").read_text()
    assert "throttle.learned" in events and learned in events
    table = io.StringIO()
    write_report(tmp_path / "run", "table", table)
    assert f"admitted about {learned}" in table.getvalue()


def test_401_aborts_at_once_and_resume_finishes(tmp_path: Path, sample: Path,
                                                expected: dict[int, dict[str, Any]]) -> None:
    run_dir = tmp_path / "run"
    with simulator(fail_auth=True) as bad:
        proc = cli("run", str(sample), "--base-url", bad.base_url, "--rate", "1000/s",
                   "--concurrency", "4", "--run-dir", str(run_dir))
        assert bad.stats()["requests"] <= 4
    assert proc.returncode == 3, proc.stderr
    assert "resume" in proc.stderr and "401" in proc.stderr
    assert orjson.loads((run_dir / "manifest.json").read_bytes())["sessions"][0]["exit_code"] == 3
    with simulator() as good:
        proc = cli("resume", str(run_dir), "--base-url", good.base_url, "--rate", "1000/s")
        assert proc.returncode == 1, proc.stderr
        check_ledger(run_dir, expected, good)


def run_args(sample: Path, sim: RunningSim, run_dir: Path) -> list[str]:
    return ["run", str(sample), "--base-url", sim.base_url, "--rate", "40/s",
            "--concurrency", "4", "--run-dir", str(run_dir)]


def test_resume_after_sigkill_reports_each_line_once(
        tmp_path: Path, sample: Path, expected: dict[int, dict[str, Any]]) -> None:
    run_dir = tmp_path / "run"
    with simulator(latency_ms=30, jitter_ms=20, p_503=0.02, p_lost=0.01) as sim:
        # Kill the first run early, the first resume later, then let one finish.
        proc = cli_popen(*run_args(sample, sim, run_dir))
        kill_after_results(run_dir, 400, proc)
        sent = (run_dir / "sent.jsonl").read_bytes().count(b"\n")
        proc = cli_popen("resume", str(run_dir), "--rate", "40/s", "--concurrency", "4")
        kill_after_results(run_dir, 1500, proc)
        # A torn line, as if the kill had landed mid-write.
        with (run_dir / "results.jsonl").open("ab") as fh:
            fh.write(b'{"line":99999,"outco')
        proc = cli_popen("resume", str(run_dir), "--rate", "200/s")
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 1, err
        got = check_ledger(run_dir, expected, sim)
    assert sent > 0
    manifest = orjson.loads((run_dir / "manifest.json").read_bytes())
    assert [s["ended_at"] is None for s in manifest["sessions"]] == [True, True, False]
    summary = orjson.loads((run_dir / "summary.json").read_bytes())
    assert summary["complete"] and summary["results"] == len(got)
    assert summary["sessions"] == 3 and summary["sessions_killed"] == 2
    # What was in flight at each kill was sent again and is flagged.
    assert any(r.get("uncertain") for r in got.values())


def test_sigterm_drains_in_flight_then_resume_completes(
        tmp_path: Path, sample: Path, expected: dict[int, dict[str, Any]]) -> None:
    run_dir = tmp_path / "run"
    with simulator(latency_ms=200) as sim:
        proc = cli_popen(*run_args(sample, sim, run_dir))
        wait_for_results(run_dir, 300, proc)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert "resume" in err
        session = orjson.loads((run_dir / "manifest.json").read_bytes())["sessions"][0]
        assert session["exit_code"] == 130
        done = results(run_dir)
        # Drained: every request that was sent got its answer written.
        sent_lines = {n for raw in (run_dir / "sent.jsonl").read_bytes().splitlines()
                      for n in orjson.loads(raw)["lines"]}
        assert sent_lines <= set(done)
        proc = cli_popen("resume", str(run_dir), "--rate", "500/s")
        proc.communicate(timeout=120)
        assert proc.returncode == 1
        got = check_ledger(run_dir, expected, sim)
    assert not any(r.get("uncertain") for r in got.values())


def test_resume_refuses_a_changed_input(tmp_path: Path, sample: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(sample.read_bytes()[:5000].rsplit(b"\n", 1)[0] + b"\n")
    with simulator(fail_auth=True) as bad:
        assert cli("run", str(src), "--base-url", bad.base_url,
                   "--run-dir", str(tmp_path / "r")).returncode == 3
    with src.open("ab") as fh:
        fh.write(b"\n")
    proc = cli("resume", str(tmp_path / "r"))
    assert proc.returncode == 2 and "changed since the run began" in proc.stderr



def test_second_signal_cuts_the_grace_period_short(
        tmp_path: Path, sample: Path, expected: dict[int, dict[str, Any]]) -> None:
    run_dir = tmp_path / "run"
    with simulator(latency_ms=5, p_slow=0.5, slow_s=30) as sim:
        proc = cli_popen(*run_args(sample, sim, run_dir), "--timeout", "60")
        wait_for_results(run_dir, 100, proc)
        proc.send_signal(signal.SIGTERM)
        wait_until(lambda: events_named(run_dir / "events.jsonl", "run.draining"),
                   what="the drain after SIGTERM", alive=proc)
        assert proc.poll() is None             # draining: slow answers still awaited
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)  # far less than the 30 s answers
        assert proc.returncode == 130, err
        cut = {n for raw in (run_dir / "sent.jsonl").read_bytes().splitlines()
               for n in orjson.loads(raw).get("lines", ())} - set(results(run_dir))
        assert cut, "nothing was in flight when the second signal came"
        with simulator() as fresh:
            proc = cli_popen("resume", str(run_dir), "--base-url", fresh.base_url,
                             "--rate", "500/s")
            proc.communicate(timeout=120)
            assert proc.returncode == 1
    got = results(run_dir)
    assert set(got) == {n for n, e in expected.items() if e["outcome"] != "blank"}
    assert all(got[n].get("uncertain") for n in cut)
