"""``bulkupdate verify`` of a ``delink`` run, end to end against the simulator
(issue 24): after a night of lost replies and dropped connections every
uncertain record is read back once, each verdict agrees with the simulator's
world, and the "lost attempt" notes equal the 2004s the server answered after
an unknown fate. And the absent-program rule: a program absent from a read that
lists every program the customer holds is delinked (``matches``); absent from a
full read of ten it cannot be told (``unverifiable``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from bulkupdate.capillary.read import READ_LIMIT, ReadKind, classify_read
from bulkupdate.simulator import SimConfig
from bulkupdate.simulator.linking import link_one
from bulkupdate.simulator.read import READS
from bulkupdate.simulator.world import PROGRAM_NAMES, World
from bulkupdate.verify.verdict import Held, judge
from tests.helpers import cli, results, simulator

WORLD = World(SimConfig(customers=20_000))
NOTE = "delinked by the lost attempt or before this run"


def pairs(count: int, linked: bool, skip: int = 0) -> list[tuple[int, str]]:
    out = []
    for i in range(skip, WORLD.customers):
        name = next((p for p in PROGRAM_NAMES if (WORLD.link(i, p)[0] is not None) is linked),
                    None)
        if name is not None:
            out.append((i, name))
            if len(out) == count:
                return out
    return out


def line(i: int, program: str) -> bytes:
    return orjson.dumps({"customer": {"mobile": WORLD.directory.identity(i)["mobile"]},
                         "deLinkFromPartnerPrograms": [{"partnerProgramName": program}]})


def verdicts(run_dir: Path) -> dict[int, dict[str, Any]]:
    return {(v := orjson.loads(raw))["line"]: v
            for raw in (run_dir / "verify.jsonl").read_bytes().splitlines()}


def test_verify_of_a_delink_night_of_lost_replies_and_drops_agrees_with_the_world(
        tmp_path: Path) -> None:
    todo = pairs(250, True) + pairs(50, False, skip=WORLD.customers // 2)
    source = tmp_path / "leavers.jsonl"
    source.write_bytes(b"\n".join(line(i, p) for i, p in todo) + b"\n")
    run_dir = tmp_path / "r"
    with simulator(p_lost=0.15, p_drop=0.15) as sim:
        night = cli("delink", str(source), "--base-url", sim.base_url, "--run-dir",
                    str(run_dir), "--batch-size", "10", "--max-attempts", "12",
                    "--rate", "400/s")
        stats = sim.stats()
        checked = cli("verify", str(run_dir), "--base-url", sim.base_url, "--rate", "400/s")
        reads = dict(sim.app[READS])
        held = {n: sim.world.link(i, p)[0] for n, (i, p) in enumerate(todo, 1)}
    assert night.returncode == 0, night.stderr
    assert stats["faults"]["p_lost"] > 0 and stats["faults"]["p_drop"] > 0
    got = results(run_dir)
    assert set(held.values()) == {None}                  # every final state right
    noted = sum(NOTE in p["message"] for r in got.values() for p in r["programs"])
    assert noted == stats["delinks_after_unknown"] > 0
    uncertain = {n for n, r in got.items() if r.get("uncertain")}
    assert uncertain, "no attempt of unknown fate: the dials tested nothing"
    assert checked.returncode == 0, checked.stderr + checked.stdout
    found = verdicts(run_dir)
    assert set(found) == uncertain                       # every uncertain record, no other
    assert all(v == 1 for v in reads.values()) and len(reads) == len(uncertain)
    # The world holds none of them linked: every verdict says so.
    assert {v["verdict"] for v in found.values()} == {"matches"}
    summary = orjson.loads((run_dir / "verify.json").read_bytes())
    assert summary["counts"]["matches"] == len(uncertain) and summary["complete"]


def test_verify_of_a_delink_that_did_not_happen_differs(tmp_path: Path) -> None:
    """A delink run whose customers are linked again behind its back: verify reads
    them linked and says ``differs`` — the verdicts follow the world, not the ledger."""
    todo = pairs(20, True)
    source = tmp_path / "leavers.jsonl"
    source.write_bytes(b"\n".join(line(i, p) for i, p in todo) + b"\n")
    run_dir = tmp_path / "r"
    with simulator() as sim:
        night = cli("delink", str(source), "--base-url", sim.base_url, "--run-dir",
                    str(run_dir), "--rate", "400/s")
        relinked = todo[:5]
        for i, p in relinked:
            assert link_one(sim.world, i, {"partnerProgramName": p, "customerPartnerReference": {
                "partnerTierName": WORLD.catalog.tiers[p][0]}}, 0.0) == 200
        checked = cli("verify", str(run_dir), "--sample", "20", "--base-url", sim.base_url,
                      "--rate", "400/s")
    assert night.returncode == 0, night.stderr
    assert checked.returncode == 1, checked.stderr + checked.stdout
    found = verdicts(run_dir)
    differs = {n for n, v in found.items() if v["verdict"] == "differs"}
    assert differs == {1, 2, 3, 4, 5}
    assert {v["verdict"] for n, v in found.items() if n not in differs} == {"matches"}
    reapply = (run_dir / "reapply.jsonl").read_bytes().splitlines()
    assert reapply == [line(i, p) for i, p in relinked]


def read_body(names: list[str]) -> bytes:
    return orjson.dumps({"data": [{"partnerProgramDetails": {
        "partnerProgramName": n, "partnerTierName": "Gold", "linked": True}} for n in names],
        "warnings": [], "errors": []})


def test_the_absent_program_rule_of_a_delink() -> None:
    """Absent from a read of fewer programs than the limit: not linked, ``matches``;
    absent from a full read of ten (the customer may hold more): ``unverifiable``;
    present and linked: ``differs``. (The client reads by identifier only — the input
    names programs, not their ids — so ``complete`` comes from the answer's length.)"""
    record = {"customer": {"mobile": "919740000001"},
              "deLinkFromPartnerPrograms": [{"partnerProgramName": "Gone-Partner"}]}
    asked = record["customer"]
    short = classify_read(200, read_body([f"P{k}" for k in range(READ_LIMIT - 1)]), asked)
    full = classify_read(200, read_body([f"P{k}" for k in range(READ_LIMIT)]), asked)
    still = classify_read(200, read_body(["Gone-Partner"]), asked)
    assert short.kind is full.kind is still.kind is ReadKind.STATE
    assert short.complete and not full.complete
    assert short.programs is not None and full.programs is not None
    assert judge(record, Held(short.programs, short.complete), "delink").verdict == "matches"
    over = judge(record, Held(full.programs, full.complete), "delink")
    assert over.verdict == "unverifiable" and "may not list every program" in over.reason
    # By partnerProgramId the answer is complete whatever its length.
    assert judge(record, Held(full.programs, True), "delink").verdict == "matches"
    assert still.programs is not None
    assert judge(record, Held(still.programs, still.complete), "delink").verdict == "differs"
