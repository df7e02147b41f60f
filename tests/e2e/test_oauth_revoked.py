"""OAuth tokens revoked two seconds after issue (a key rotation, a server restart),
through the CLI against the simulator: ``link``, ``run`` with lost replies and
dropped connections, then ``verify`` of the run — every command renews its token
after the 401 and goes on (one transport under all of them), and every verdict
agrees with what the simulator holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from bulkupdate.simulator.world import PROGRAMS, World
from tests.helpers import cli, cli_env, simulator

EXPIRY = "2031-06-30T23:59:59+05:30"
PROGRAM = "Apparel-Partner"
OAUTH = {"CAPILLARY_CLIENT_KEY": "demo-key", "CAPILLARY_CLIENT_SECRET": "demo-secret"}


def oauth_env() -> dict[str, str]:
    env = cli_env(**OAUTH)
    del env["CAPILLARY_USERNAME"], env["CAPILLARY_PASSWORD"]
    return env


def upgrades(world: World, count: int) -> list[dict[str, Any]]:
    """Records that each move a linked customer to a tier it does not hold yet."""
    out: list[dict[str, Any]] = []
    for i in range(world.customers):
        tier, _ = world.link(i, PROGRAM)
        if tier is not None and len(out) < count:
            other = next(t for t in PROGRAMS[PROGRAM] if t != tier)
            out.append({"customer": {"mobile": world.directory.identity(i)["mobile"]},
                        "partnerProgramUpdates": [{
                            "partnerProgramName": PROGRAM, "updateType": "UPGRADE",
                            "updateDetails": {"updatedTierName": other,
                                              "updatedTierExpiryDate": EXPIRY}}]})
    return out


def links(world: World, count: int) -> list[dict[str, Any]]:
    free = [i for i in range(world.customers) if world.link(i, PROGRAM)[0] is None][:count]
    return [{"customer": {"mobile": world.directory.identity(i)["mobile"]},
             "linkToPartnerPrograms": [{"partnerProgramName": PROGRAM,
                                        "customerPartnerReference": {
                                            "partnerMembershipId": f"M-{i}",
                                            "partnerTierName": "Silver",
                                            "partnerTierExpiryDate": EXPIRY}}]} for i in free]


def write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def tokens(run_dir: Path) -> tuple[int, int]:
    """Tokens issued to the client before ``verify.started``, and after it."""
    names = [orjson.loads(raw).get("event")
             for raw in (run_dir / "events.jsonl").read_bytes().splitlines()]
    split = names.index("verify.started") if "verify.started" in names else len(names)
    return names[:split].count("auth.token"), names[split:].count("auth.token")


def test_link_run_and_verify_renew_a_token_revoked_early(tmp_path: Path) -> None:
    env = oauth_env()
    with simulator(customers=400, token_revoke_s=2.0, p_lost=0.2, p_drop=0.2) as sim:
        world = sim.world
        link_dir, run_dir = tmp_path / "link", tmp_path / "run"
        linked = cli("link", str(write(tmp_path / "links.jsonl", links(world, 25))),
                     "--base-url", sim.base_url, "--run-dir", str(link_dir),
                     "--batch-size", "1", "--rate", "10/s", env=env)
        assert linked.returncode in (0, 1), linked.stderr
        records = upgrades(world, 30)
        ran = cli("run", str(write(tmp_path / "night.jsonl", records)),
                  "--base-url", sim.base_url, "--run-dir", str(run_dir), "--batch-size", "1",
                  "--max-attempts", "1", "--rate", "10/s", env=env)
        assert ran.returncode in (0, 1), ran.stderr
        uncertain = {e["line"] for e in map(orjson.loads, (run_dir / "results.jsonl")
                                            .read_bytes().splitlines()) if e.get("uncertain")}
        # Every record read back (the uncertain ones and, as a sample, the rest): at
        # 8/s that outlives the verify's first token, whatever the faults left uncertain.
        checked = cli("verify", str(run_dir), "--base-url", sim.base_url, "--rate", "8/s",
                      "--sample", str(len(records)), env=env)
        assert checked.returncode in (0, 1), checked.stderr
        judged = {e["line"]: e for e in map(orjson.loads,
                                            (run_dir / "verify.jsonl").read_bytes().splitlines())}
        # Each command outlived its first token and renewed it after the 401.
        assert tokens(link_dir)[0] >= 2
        assert min(tokens(run_dir)) >= 2
        assert sim.stats()["auth_failures"] > 0
        assert set(judged) == set(range(1, len(records) + 1)) and uncertain
        assert {e["why"] for line, e in judged.items() if line in uncertain} == {"uncertain"}
        for line, entry in judged.items():
            i = world.locate(entry["customer"])
            assert i is not None
            tier, _ = world.link(i, PROGRAM)
            asked = records[line - 1]["partnerProgramUpdates"][0]["updateDetails"]
            assert entry["verdict"] == ("matches" if tier == asked["updatedTierName"]
                                        else "differs"), entry
