"""`bulkupdate verify` through the CLI against the simulator: a night with lost
replies and dropped connections, then verify: every verdict agrees with what the
simulator holds; reapply.jsonl re-sends exactly the records that differ."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from bulkupdate.simulator import SimConfig
from bulkupdate.simulator.faults import FaultDecider, FaultPlan
from bulkupdate.simulator.server import STATE
from bulkupdate.simulator.world import PROGRAMS, World
from tests.helpers import cli, simulator

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
