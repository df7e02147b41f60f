"""`bulkupdate verify` of a link run, through the CLI against the simulator: after
lost replies and dropped connections, every uncertain link record is read back
and judged by what the API holds — linked, with the reference's tier and expiry
— never ``unverifiable`` for want of program updates."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from bulkupdate.simulator.world import World
from tests.helpers import cli, simulator

EXPIRY = "2031-06-30T23:59:59+05:30"
PROGRAM = "Apparel-Partner"


def link_lines(world: World, count: int, form: str) -> bytes:
    free = [i for i in range(world.customers) if world.link(i, PROGRAM)[0] is None][:count]
    mobiles = [world.directory.identity(i)["mobile"] for i in free]
    if form == "csv":
        return b"".join([b"mobile,partnerProgramName,partnerMembershipId,partnerTierName,"
                         b"partnerTierExpiryDate\n", *(
                             f"{m},{PROGRAM},M-{m},Silver,{EXPIRY}\n".encode() for m in mobiles)])
    return b"".join(orjson.dumps({
        "customer": {"mobile": m},
        "linkToPartnerPrograms": [{"partnerProgramName": PROGRAM, "customerPartnerReference": {
            "partnerMembershipId": f"M-{m}", "partnerTierName": "Silver",
            "partnerTierExpiryDate": EXPIRY}}]}) + b"\n" for m in mobiles)


@pytest.mark.parametrize("form", ["jsonl", "csv"])
def test_verify_reads_back_a_link_run_after_lost_replies(tmp_path: Path, form: str) -> None:
    with simulator(customers=500, p_lost=0.25, p_drop=0.25) as sim:
        source = tmp_path / f"links.{form}"
        source.write_bytes(link_lines(sim.world, 40, form))
        run_dir = tmp_path / "run"
        done = cli("link", str(source), "--base-url", sim.base_url, "--run-dir", str(run_dir),
                   "--batch-size", "1", "--max-attempts", "1", "--rate", "1000/s")
        assert done.returncode == 1, done.stderr
        uncertain = {e["line"] for e in map(orjson.loads, (run_dir / "results.jsonl")
                                            .read_bytes().splitlines()) if e.get("uncertain")}
        assert uncertain
        checked = cli("verify", str(run_dir), "--base-url", sim.base_url, "--rate", "1000/s")
        assert checked.returncode in (0, 1), checked.stderr
        judged = {e["line"]: e for e in map(orjson.loads,
                                            (run_dir / "verify.jsonl").read_bytes().splitlines())}
        assert set(judged) == uncertain
        verdicts = set()
        for entry in judged.values():
            i = sim.world.locate(entry["customer"])
            assert i is not None
            tier, _ = sim.world.link(i, PROGRAM)
            verdicts.add(entry["verdict"])
            assert entry["verdict"] == ("matches" if tier == "Silver" else "differs"), entry
    # Lost replies (applied) and dropped connections (not): both verdicts seen.
    assert verdicts == {"matches", "differs"}
