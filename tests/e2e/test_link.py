"""``bulkupdate link`` through the CLI against the real simulator: exact outcomes
on a mixed file, no link applied twice under lost replies and dropped
connections, link then update of the same customers, resume after ``kill -9``,
and the demo's link step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from bulkupdate.simulator import SimConfig
from bulkupdate.simulator.world import World
from tests.helpers import cli, cli_popen, kill_after_results, results, simulator

WORLD = World(SimConfig(customers=20_000))   # the simulator's default world in tests
EXPIRY = "2031-06-30T23:59:59+05:30"


def not_linked(program: str, count: int, skip: int = 0) -> list[int]:
    found = [i for i in range(skip, WORLD.customers) if WORLD.link(i, program)[0] is None]
    return found[:count]


def link_line(i: int, program: str = "Apparel-Partner", tier: str = "Silver",
              ref: str | None = None, customer: dict[str, Any] | None = None) -> bytes:
    item: dict[str, Any] = {
        "customer": customer or {"mobile": WORLD.directory.identity(i)["mobile"]},
        "linkToPartnerPrograms": [{"partnerProgramName": program, "customerPartnerReference": {
            "partnerMembershipId": f"M-{i}", "partnerTierName": tier,
            "partnerTierExpiryDate": EXPIRY}}]}
    if ref is not None:
        item["ref"] = ref
    return orjson.dumps(item)


def update_line(i: int, program: str = "Apparel-Partner") -> bytes:
    return orjson.dumps({"customer": {"mobile": WORLD.directory.identity(i)["mobile"]},
                         "partnerProgramUpdates": [{
                             "partnerProgramName": program, "updateType": "UPGRADE",
                             "updateDetails": {"updatedTierName": "Gold",
                                               "updatedTierExpiryDate": EXPIRY}}]})


def write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def link_args(source: Path, url: str, run_dir: Path, *more: str) -> list[str]:
    return ["link", str(source), "--base-url", url, "--run-dir", str(run_dir), *more]


def test_a_mixed_file_gives_exact_outcomes(tmp_path: Path) -> None:
    new = not_linked("Apparel-Partner", 1)[0]
    already = next(i for i in range(WORLD.customers) if WORLD.link(i, "Travel-Partner")[0])
    source = write(tmp_path / "links.jsonl", [
        link_line(new, ref="new"),
        link_line(already, "Travel-Partner", ref="already"),
        link_line(new, "Nope-Partner", ref="program"),
        link_line(not_linked("Dining-Partner", 1)[0], "Dining-Partner", "Diamond", ref="tier"),
        link_line(0, ref="nobody", customer={"mobile": "919999999999"}),
        b'{"customer": {"mobile": "1"}, "linkToPartnerPrograms": []}',
    ])
    with simulator() as sim:
        proc = cli(*link_args(source, sim.base_url, tmp_path / "r"))
        stats = sim.stats()
    assert proc.returncode == 1, proc.stderr
    got = results(tmp_path / "r")
    assert [got[n]["outcome"] for n in range(1, 7)] == [
        "ok", "already", "rejected", "rejected", "rejected", "invalid"]
    assert got[1]["programs"][0]["updateType"] == "LINK"
    assert [got[n]["programs"][0]["code"] for n in range(2, 5)] == [2005, 2006, 2007]
    assert got[5]["code"] == 8015
    assert not any("likely_applied" in p for r in got.values() for p in r.get("programs", []))
    assert stats["links_applied"] == 1 and stats["links_applied_twice"] == 0
    manifest = orjson.loads((tmp_path / "r" / "manifest.json").read_bytes())
    assert manifest["api"] == "link"
    table = cli("report", str(tmp_path / "r"))
    assert "api        link" in table.stdout and "1 of 6" not in table.stdout
    as_json = orjson.loads(cli("report", str(tmp_path / "r"), "--format", "json").stdout)
    assert as_json["api"] == "link" and as_json["outcomes"]["ok"] == 1
    assert "link report" in cli("report", str(tmp_path / "r"), "--format", "html").stdout
    offline = cli("validate", "--link", str(source))
    assert offline.returncode == 1 and "1 invalid" in offline.stderr


def test_lost_replies_and_dropped_connections_link_nobody_twice(tmp_path: Path) -> None:
    people = not_linked("Fuel-Partner", 300)
    source = write(tmp_path / "links.jsonl", [link_line(i, "Fuel-Partner") for i in people])
    with simulator(p_lost=0.15, p_drop=0.15, track=True) as sim:
        # 30% of attempts fail: with 5 attempts a batch gives up once in ~400, and which
        # batch meets which fault depends on the machine's timing. 20 never give up.
        proc = cli(*link_args(source, sim.base_url, tmp_path / "r", "--batch-size", "10",
                              "--max-attempts", "20"))
        stats = sim.stats()
        world = sim.world
        linked = sum(world.link(i, "Fuel-Partner")[0] == "Silver" for i in people)
    got = results(tmp_path / "r")
    assert len(got) == 300, proc.stderr
    assert stats["links_applied_twice"] == 0 and linked == 300
    assert stats["faults"]["p_lost"] > 0 and stats["faults"]["p_drop"] > 0
    for result in got.values():
        if result["outcome"] == "already":
            # The re-sent link met its own earlier attempt: 2005, marked, never "failed".
            assert result["uncertain"] and result["programs"][0]["likely_applied"], result
        else:
            assert result["outcome"] == "ok", result
    assert any(r["outcome"] == "already" for r in got.values())
    assert proc.returncode == 0, proc.stderr    # already counts as done


def test_on_a_rerun_migration_the_2005_notes_equal_the_servers_count(tmp_path: Path) -> None:
    """Most customers linked before the run: after a lost or dropped attempt their
    2005 is noted "linked by the lost attempt or before this run", exactly as often
    as the server answered a 2005 after a request the client could not read."""
    before = [i for i in range(2000) if WORLD.link(i, "Travel-Partner")[0]][:300]
    fresh = not_linked("Travel-Partner", 100)
    lines = [link_line(i, "Travel-Partner", tier=WORLD.link(i, "Travel-Partner")[0] or "Silver")
             for i in before + fresh]
    source = write(tmp_path / "links.jsonl", lines)
    with simulator(p_lost=0.15, p_drop=0.15, track=True) as sim:
        proc = cli(*link_args(source, sim.base_url, tmp_path / "r", "--batch-size", "10",
                              "--max-attempts", "12", "--rate", "400/s"))
        stats = sim.stats()
    got = results(tmp_path / "r")
    assert proc.returncode == 0, proc.stderr          # 2005: already, done
    noted = sum("linked by the lost attempt or before this run" in p["message"]
                for r in got.values() for p in r["programs"])
    assert noted == stats["links_after_unknown"] > stats["links_resent"]
    assert {r["outcome"] for r in got.values()} == {"ok", "already"}


def test_a_future_dated_link_of_unknown_fate_is_not_sent_again(tmp_path: Path) -> None:
    """Re-sent, it would queue a relink on top of the link: given up instead."""
    people = not_linked("SPP_1", 120)
    lines = []
    for i in people:
        item = orjson.loads(link_line(i, "SPP_1", tier="Basic"))
        item["linkToPartnerPrograms"][0]["customerPartnerReference"][
            "membershipStartDate"] = "2030-01-01T00:00:00+05:30"
        lines.append(orjson.dumps(item))
    source = write(tmp_path / "future.jsonl", lines)
    with simulator(p_lost=0.2, p_drop=0.1, track=True) as sim:
        proc = cli(*link_args(source, sim.base_url, tmp_path / "r", "--batch-size", "10"))
        stats = sim.stats()
    got = results(tmp_path / "r")
    assert len(got) == 120, proc.stderr
    assert stats["faults"]["p_lost"] > 0
    assert stats["links_applied_twice"] == 0
    given_up = [r for r in got.values() if r["outcome"] == "retryable"]
    assert given_up and all(r["uncertain"] and "future-dated link" in r["error"]
                            for r in given_up)
    assert all(r["outcome"] == "ok" for r in got.values() if r["outcome"] != "retryable")
    retry = (tmp_path / "r" / "retry.jsonl").read_bytes().splitlines()
    assert len(retry) == len(given_up)


def test_link_then_update_of_the_same_customers(tmp_path: Path) -> None:
    people = not_linked("Dining-Partner", 40)
    links = write(tmp_path / "links.csv", [
        b"mobile,partnerProgramName,partnerMembershipId,partnerTierName,partnerTierExpiryDate",
        *(f"{WORLD.directory.identity(i)['mobile']},Dining-Partner,M-{i},Silver,{EXPIRY}".encode()
          for i in people)])
    updates = write(tmp_path / "updates.jsonl", [update_line(i, "Dining-Partner") for i in people])
    with simulator() as sim:
        before = cli("run", str(updates), "--base-url", sim.base_url, "--run-dir",
                     str(tmp_path / "before"))
        linked = cli(*link_args(links, sim.base_url, tmp_path / "link"))
        after = cli("run", str(updates), "--base-url", sim.base_url, "--run-dir",
                    str(tmp_path / "after"))
    assert before.returncode == 1
    assert {r["programs"][0]["code"] for r in results(tmp_path / "before").values()} == {2004}
    assert linked.returncode == 0, linked.stderr
    assert after.returncode == 0, after.stderr
    assert {r["outcome"] for r in results(tmp_path / "after").values()} == {"ok"}


def test_resume_after_kill_9_reports_each_line_once(tmp_path: Path) -> None:
    people = not_linked("Apparel-Partner", 600)
    source = write(tmp_path / "links.jsonl", [link_line(i, ref=f"r{n}")
                                              for n, i in enumerate(people, 1)])
    run_dir = tmp_path / "r"
    with simulator(latency_ms=20, p_lost=0.02, track=True) as sim:
        proc = cli_popen(*link_args(source, sim.base_url, run_dir, "--rate", "40/s",
                                    "--concurrency", "4"))
        kill_after_results(run_dir, 100, proc)
        resumed = cli("resume", str(run_dir), "--rate", "400/s")   # no flag says "link"
        stats = sim.stats()
    # A link in flight at the kill, re-sent, meets itself: 2005, already (done), marked.
    assert resumed.returncode == 0, resumed.stderr
    lines = (run_dir / "results.jsonl").read_bytes().splitlines()
    numbers = [orjson.loads(raw)["line"] for raw in lines]
    assert sorted(numbers) == list(range(1, 601))      # each line once
    got = results(run_dir)
    assert all(r["outcome"] == "ok" or r["programs"][0].get("likely_applied")
               for r in got.values())
    assert stats["links_applied_twice"] == 0
    assert all(sim.world.link(i, "Apparel-Partner")[0] == "Silver" for i in people)


def test_demo_shows_a_link_step_and_a_delink_step(tmp_path: Path) -> None:
    proc = cli("demo", "--records", "600", "--dir", str(tmp_path), "--rate", "400/s")
    assert proc.returncode == 0, proc.stderr
    assert "3. bulkupdate link" in proc.stdout and "linked: " in proc.stdout
    assert "0 rejected (exit 0)" in proc.stdout
    # The story ends with a few members leaving: delinked, none refused.
    leaving = proc.stdout[proc.stdout.index("6. bulkupdate delink"):]
    assert "delinked: " in leaving and "0 rejected (exit 0)" in leaving
