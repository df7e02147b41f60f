"""`bulkupdate verify` through the CLI against the simulator: a night with lost
replies and dropped connections, then verify: every verdict agrees with what the
simulator holds; reapply.jsonl re-sends exactly the records that differ."""

from __future__ import annotations

import csv
import io
import signal
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from bulkupdate.simulator import SimConfig
from bulkupdate.simulator.faults import FaultDecider, FaultPlan
from bulkupdate.simulator.read import READS
from bulkupdate.simulator.server import STATE
from bulkupdate.simulator.world import PROGRAMS, World
from tests.helpers import cli, cli_popen, simulator

EXPIRY = "2031-06-30T23:59:59+05:30"
PROGRAM = "Apparel-Partner"


def night(world: World, records: int, start: int = 0) -> list[dict[str, Any]]:
    """Records that each move a linked customer to a tier it does not hold yet."""
    out: list[dict[str, Any]] = []
    i = start
    while len(out) < records:
        tier, _ = world.link(i, PROGRAM)
        if tier is not None:
            other = next(t for t in PROGRAMS[PROGRAM] if t != tier)
            out.append({"ref": f"r{i}", "customer": {"mobile": world.directory.identity(i)[
                "mobile"]}, "partnerProgramUpdates": [{
                    "partnerProgramName": PROGRAM, "updateType": "UPGRADE",
                    "updateDetails": {"updatedTierName": other,
                                      "updatedTierExpiryDate": EXPIRY}}]})
        i += 1
    return out


def write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def verdicts(run_dir: Path) -> dict[int, dict[str, Any]]:
    return {(e := orjson.loads(raw))["line"]: e
            for raw in (run_dir / "verify.jsonl").read_bytes().splitlines()}


def test_verify_after_a_night_of_lost_replies_and_drops(tmp_path: Path) -> None:
    with simulator(customers=500, p_lost=0.25, p_drop=0.25) as sim:
        records = night(sim.world, 40)
        source = write(tmp_path / "night.jsonl", records)
        run_dir = tmp_path / "run"
        done = cli("run", str(source), "--base-url", sim.base_url, "--run-dir", str(run_dir),
                   "--batch-size", "1", "--max-attempts", "1", "--rate", "1000/s")
        assert done.returncode == 1, done.stderr
        uncertain = {orjson.loads(r)["line"] for r in
                     (run_dir / "results.jsonl").read_bytes().splitlines()
                     if orjson.loads(r).get("uncertain")}
        assert uncertain
        # Until it is verified, the report says how to settle what stayed uncertain.
        assert f"bulkupdate verify {run_dir}" in cli("report", str(run_dir)).stdout
        checked = cli("verify", str(run_dir), "--base-url", sim.base_url, "--rate", "1000/s")
        assert checked.returncode == 1, checked.stderr
        judged = verdicts(run_dir)
        assert set(judged) == uncertain
        world = sim.world
        for line, entry in judged.items():
            i = world.locate(entry["customer"])
            assert i is not None
            tier, _ = world.link(i, PROGRAM)
            asked = records[line - 1]["partnerProgramUpdates"][0]["updateDetails"]
            expected = "matches" if tier == asked["updatedTierName"] else "differs"
            assert entry["verdict"] == expected, entry
        differs = sorted(n for n, e in judged.items() if e["verdict"] == "differs")
        reapply = (run_dir / "reapply.jsonl").read_bytes().splitlines()
        raw = source.read_bytes().splitlines()
        assert reapply == [raw[n - 1] for n in differs]
        summary = orjson.loads((run_dir / "verify.json").read_bytes())
        assert summary["counts"]["differs"] == len(differs)
        assert summary["complete"] is True

        # A verify run again reads nothing twice.
        before = sim.stats()["requests"]
        again = cli("verify", str(run_dir), "--base-url", sim.base_url)
        assert again.returncode == 1, again.stderr
        assert sim.stats()["requests"] == before
        assert verdicts(run_dir) == judged


def test_reapply_then_run_ends_with_everyone_in_place(tmp_path: Path) -> None:
    with simulator(customers=300, p_drop=0.3, p_lost=0.2, p_read_503=0.2,
                   p_read_drop=0.1) as sim:
        records = night(sim.world, 20)
        source = write(tmp_path / "night.jsonl", records)
        run_dir = tmp_path / "run"
        cli("run", str(source), "--base-url", sim.base_url, "--run-dir", str(run_dir),
            "--batch-size", "1", "--max-attempts", "1", "--rate", "1000/s")
        checked = cli("verify", str(run_dir), "--base-url", sim.base_url, "--rate", "1000/s",
                      "--max-attempts", "20")
        assert checked.returncode == 1, checked.stderr
        assert "failed" not in {e["verdict"] for e in verdicts(run_dir).values()}
        # What was never answered nor re-sent: only verified records or definite ones.
        lost = {orjson.loads(r)["line"] for r in
                (run_dir / "results.jsonl").read_bytes().splitlines()
                if orjson.loads(r)["outcome"] != "ok"}
        # The same world, its update dials off for the re-send of reapply.jsonl alone.
        state = sim.app[STATE]
        state.decider = FaultDecider(FaultPlan.from_config(SimConfig(customers=300)), 1)
        again = cli("run", str(run_dir / "reapply.jsonl"), "--base-url", sim.base_url,
                    "--run-dir", str(tmp_path / "again"), "--rate", "1000/s")
        assert again.returncode == 0, again.stderr
        for n, record in enumerate(records, 1):
            i = sim.world.locate(record["customer"])
            assert i is not None
            wanted = record["partnerProgramUpdates"][0]["updateDetails"]["updatedTierName"]
            if n in lost:
                assert sim.world.link(i, PROGRAM)[0] == wanted
            assert len(sim.world.applied.get(i, [])) <= 1, "applied twice"


def test_unverifiable_and_superseded(tmp_path: Path) -> None:
    with simulator(customers=300) as sim:
        records = night(sim.world, 3)
        cancel = {"ref": "cancel", "customer": records[0]["customer"],
                  "partnerProgramUpdates": [{"partnerProgramName": "SPP_1",
                                             "updateType": "MEMBERSHIP_RELINKING_CANCELLED"}]}
        later = dict(records[1], ref="later")
        source = write(tmp_path / "night.jsonl", [*records, cancel, later])
        run_dir = tmp_path / "run"
        done = cli("run", str(source), "--base-url", sim.base_url, "--run-dir", str(run_dir),
                   "--rate", "1000/s")
        assert done.returncode in (0, 1), done.stderr
        # Every ok record is sampled: no uncertain ones in a clean night.
        checked = cli("verify", str(run_dir), "--base-url", sim.base_url, "--sample", "10")
        judged = verdicts(run_dir)
        by_ref = {e["ref"]: e for e in judged.values()}
        assert by_ref["r" + records[0]["ref"][1:]]["verdict"] == "matches"
        assert by_ref[records[1]["ref"]]["verdict"] == "superseded"
        assert by_ref["later"]["verdict"] == "matches"
        if "cancel" in by_ref:
            assert by_ref["cancel"]["verdict"] == "unverifiable"
        assert checked.returncode == 1


def uncertain_lines(run_dir: Path) -> set[int]:
    return {e["line"] for raw in (run_dir / "results.jsonl").read_bytes().splitlines()
            if (e := orjson.loads(raw)).get("uncertain")}


def lossy_night(sim: Any, tmp_path: Path, records: int, *extra: str) -> tuple[Path, int]:
    """The night's run directory and the run's exit code."""
    source = write(tmp_path / "night.jsonl", night(sim.world, records))
    run_dir = tmp_path / "run"
    done = cli("run", str(source), "--base-url", sim.base_url, "--run-dir", str(run_dir),
               "--batch-size", "1", "--max-attempts", "1", "--rate", "1000/s", *extra)
    return run_dir, done.returncode


def test_sigint_then_verify_again_reads_nothing_twice(tmp_path: Path) -> None:
    with simulator(customers=300, p_lost=0.5) as sim:
        run_dir, _ = lossy_night(sim, tmp_path, 30)
        uncertain = uncertain_lines(run_dir)
        assert len(uncertain) >= 3
        state = sim.app[STATE]
        state.config = replace(state.config, latency_ms=200)   # slow reads from now on
        proc = cli_popen("verify", str(run_dir), "--base-url", sim.base_url,
                         "--concurrency", "1", "--rate", "1000/s", "--log-format", "json",
                         "--progress-every", "0.05")
        log = run_dir / "verify.jsonl"
        deadline = time.monotonic() + 60
        while not (log.exists() and log.read_bytes().count(b"\n") >= 1):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        first = verdicts(run_dir)
        assert 0 < len(first) < len(uncertain)
        summary = orjson.loads((run_dir / "verify.json").read_bytes())
        assert summary["complete"] is False and summary["exit_code"] == 130
        events = [orjson.loads(raw) for raw in (run_dir / "events.jsonl").read_bytes().split(
            b"\n") if raw]
        names = {e["event"] for e in events}
        assert {"verify.stopping", "verify.progress"} <= names
        beat = next(e for e in events if e["event"] == "verify.progress")
        assert beat["total"] == len(uncertain) and "matches" in beat

        state.config = replace(state.config, latency_ms=0)
        again = cli("verify", str(run_dir), "--base-url", sim.base_url, "--rate", "1000/s")
        assert again.returncode == 0, again.stderr   # lost replies: every update applied
        assert set(verdicts(run_dir)) == uncertain
        reads = sim.app[READS]
        assert sum(reads.values()) == len(uncertain)
        assert max(reads.values()) == 1, "a record read twice"


def test_wrong_customer_is_failed_never_matches(tmp_path: Path) -> None:
    with simulator(customers=300, p_lost=0.5, p_read_other=1.0) as sim:
        run_dir, _ = lossy_night(sim, tmp_path, 20)
        assert uncertain_lines(run_dir)
        metrics = tmp_path / "verify.prom"
        checked = cli("verify", str(run_dir), "--base-url", sim.base_url, "--rate", "1000/s",
                      "--max-attempts", "2", "--metrics-file", str(metrics))
        assert checked.returncode == 1, checked.stderr
        series = metrics.read_text()
        failed = len(uncertain_lines(run_dir))
        assert f'bulkupdate_verify_records_total{{verdict="failed"}} {failed}.0' in series
        assert f'bulkupdate_verify_requests_total{{status="200"}} {2 * failed}.0' in series
        assert "bulkupdate_verify_exit_code 1.0" in series
        judged = verdicts(run_dir).values()
        assert {e["verdict"] for e in judged} == {"failed"}
        assert all("gave up" in e["reason"] for e in judged)


def test_run_verify_settles_lost_replies_and_the_report_shows_it(tmp_path: Path) -> None:
    with simulator(customers=300, p_lost=0.4) as sim:
        run_dir, code = lossy_night(sim, tmp_path, 30, "--verify")
        # The run alone exits 1 (retryable records); read back, every one matches: 0.
        assert code == 0
        done_first = orjson.loads((run_dir / "summary.json").read_bytes())
        assert done_first["outcomes"]["retryable"] > 0
        summary = orjson.loads((run_dir / "verify.json").read_bytes())
        assert summary["counts"]["matches"] == len(uncertain_lines(run_dir))
        assert done_first["exit_code"] == 1
        again = cli("resume", str(run_dir), "--verify", "--base-url", sim.base_url)
        assert again.returncode == 0, again.stderr

        table = cli("report", str(run_dir)).stdout
        assert "verified" in table and "matches" in table
        assert "bulkupdate verify" not in table      # done: no advice to do it again
        as_json = orjson.loads(cli("report", str(run_dir), "--format", "json").stdout)
        assert as_json["verification"]["counts"]["matches"] == summary["counts"]["matches"]
        rows = list(csv.DictReader(io.StringIO(
            cli("report", str(run_dir), "--format", "csv").stdout)))
        assert {r["verdict"] for r in rows if r["uncertain"] == "true"} == {"matches"}
        assert {r["verdict"] for r in rows if r["uncertain"] != "true"} == {""}
        page = cli("report", str(run_dir), "--format", "html").stdout
        assert "<h2>Verification</h2>" in page


def test_run_verify_with_drops_exits_1_and_reapply_waits(tmp_path: Path) -> None:
    with simulator(customers=300, p_drop=0.4) as sim:
        source = write(tmp_path / "night.jsonl", night(sim.world, 30))
        run_dir = tmp_path / "run"
        done = cli("run", str(source), "--base-url", sim.base_url, "--run-dir", str(run_dir),
                   "--batch-size", "1", "--max-attempts", "1", "--rate", "1000/s", "--verify")
        assert done.returncode == 1, done.stderr
        judged = verdicts(run_dir)
        differs = sorted(n for n, e in judged.items() if e["verdict"] == "differs")
        assert differs   # dropped before processing: nothing applied
        raw = source.read_bytes().splitlines()
        assert (run_dir / "reapply.jsonl").read_bytes().splitlines() == [
            raw[n - 1] for n in differs]
