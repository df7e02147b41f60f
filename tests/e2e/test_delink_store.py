"""``bulkupdate delink`` with the state store (issues 21 and 24), end to end: the
CLI against the simulator, the simulator's world as the truth, SQLite as the
store. A program's life — link, update, delink, link again — with every step
exact; a repeated delink ``unchanged``; a delink of unknown fate pending until a
later night sends it; the P% guard over the keys the store holds linked; and
``plan --delink`` with and without a store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.helpers import (
    PROGRAM,
    cli,
    cli_popen,
    dial,
    kill_after_results,
    results,
    simulator,
    world_for,
)

EXPIRY = "2099-12-31T23:59:59+05:30"


def unlinked(count: int) -> list[int]:
    """Customers of the tests' world not linked to PROGRAM: a link makes them members."""
    world = world_for()
    return [i for i in range(5000) if world.link(i, PROGRAM)[0] is None][:count]


def write(path: Path, items: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(item) + b"\n" for item in items))
    return path


def links(path: Path, people: list[int], tier: str) -> Path:
    return write(path, [{"customer": {"id": 100_000 + i}, "linkToPartnerPrograms": [{
        "partnerProgramName": PROGRAM, "customerPartnerReference": {
            "partnerTierName": tier, "partnerTierExpiryDate": EXPIRY}}]} for i in people])


def updates(path: Path, people: list[int], tier: str) -> Path:
    return write(path, [{"customer": {"id": 100_000 + i}, "partnerProgramUpdates": [{
        "partnerProgramName": PROGRAM, "updateType": "UPGRADE", "updateDetails": {
            "updatedTierName": tier, "updatedTierExpiryDate": EXPIRY}}]} for i in people])


def delinks(path: Path, people: list[int]) -> Path:
    return write(path, [{"customer": {"id": 100_000 + i}, "deLinkFromPartnerPrograms": [
        {"partnerProgramName": PROGRAM}]} for i in people])


def night(sim: Any, command: str, source: Path, run_dir: Path, state: Path,
          *extra: str) -> Any:
    return cli(command, str(source), "--base-url", sim.base_url, "--run-dir", str(run_dir),
               "--state", str(state), "--rate", "2000/s", *extra)


def members(sim: Any, people: list[int], state: Path, tmp_path: Path) -> Path:
    """Link ``people`` (night 1, with the store), and the file that delinks them."""
    done = night(sim, "link", links(tmp_path / "l.jsonl", people, "Silver"), tmp_path / "1",
                 state)
    assert done.returncode == 0, done.stderr
    return delinks(tmp_path / "d.jsonl", people)


def outcomes(run_dir: Path) -> dict[str, int]:
    summary = orjson.loads((run_dir / "summary.json").read_bytes())
    return {k: v for k, v in summary["outcomes"].items() if v}


def tiers(sim: Any, people: list[int]) -> set[str | None]:
    return {sim.world.link(i, PROGRAM)[0] for i in people}


def test_link_update_delink_then_link_again_every_step_exact(tmp_path: Path) -> None:
    people = unlinked(40)
    state = tmp_path / "state.db"
    with simulator() as sim:
        step = night(sim, "link", links(tmp_path / "l.jsonl", people, "Silver"),
                     tmp_path / "1", state)
        assert step.returncode == 0 and outcomes(tmp_path / "1") == {"ok": 40}, step.stderr
        assert tiers(sim, people) == {"Silver"}
        step = night(sim, "run", updates(tmp_path / "u.jsonl", people, "Gold"),
                     tmp_path / "2", state)
        assert step.returncode == 0 and outcomes(tmp_path / "2") == {"ok": 40}, step.stderr
        assert tiers(sim, people) == {"Gold"}
        leavers = delinks(tmp_path / "d.jsonl", people)
        step = night(sim, "delink", leavers, tmp_path / "3", state, "--max-delinks", "100%")
        assert step.returncode == 0 and outcomes(tmp_path / "3") == {"ok": 40}, step.stderr
        assert tiers(sim, people) == {None}
        requests = sim.stats()["requests"]
        # The same leavers again: the store knows them delinked, nothing goes out.
        step = night(sim, "delink", leavers, tmp_path / "4", state)
        assert step.returncode == 0 and outcomes(tmp_path / "4") == {"unchanged": 40}, step
        assert sim.stats()["requests"] == requests
        # Linked again: the store says "not linked", so every link is sent.
        step = night(sim, "link", tmp_path / "l.jsonl", tmp_path / "5", state)
        assert step.returncode == 0 and outcomes(tmp_path / "5") == {"ok": 40}, step.stderr
        assert tiers(sim, people) == {"Silver"}
        assert all(r["attempts"] >= 1 for r in results(tmp_path / "5").values())


def test_a_delink_of_unknown_fate_stays_pending_and_the_next_night_sends_it(
        tmp_path: Path) -> None:
    people = unlinked(30)
    state = tmp_path / "state.db"
    with simulator() as sim:
        leavers = members(sim, people, state, tmp_path)
        dial(sim, p_lost=1.0)                  # every reply lost: every fate unknown
        lost = night(sim, "delink", leavers, tmp_path / "2", state, "--max-attempts", "1",
                     "--max-delinks", "100%")
        assert tiers(sim, people) == {None}    # applied, but nobody heard it
        dial(sim, p_lost=0.0)
        assert lost.returncode == 1, lost.stderr
        assert outcomes(tmp_path / "2") == {"retryable": 30}
        shown = cli("state", "--state", str(state), "--base-url", sim.base_url)
        assert shown.returncode == 0, shown.stderr
        plan = cli("plan", "--delink", str(leavers), "--state", str(state),
                   "--base-url", sim.base_url)
        assert plan.returncode == 0 and "30 to send" in plan.stdout, plan
        # The next night sends every one of them (not one is skipped).
        again = night(sim, "delink", leavers, tmp_path / "3", state, "--max-delinks", "100%")
        assert again.returncode == 0, again.stderr
        got = results(tmp_path / "3")
        assert all(r["outcome"] != "unchanged" and r["attempts"] >= 1 for r in got.values())
        assert tiers(sim, people) == {None}
        # Now confirmed: a third night is unchanged.
        third = night(sim, "delink", leavers, tmp_path / "4", state)
        assert third.returncode == 0 and outcomes(tmp_path / "4") == {"unchanged": 30}


def test_max_delinks_share_of_the_stores_linked_keys_and_the_plan(tmp_path: Path) -> None:
    people = unlinked(50)
    state = tmp_path / "state.db"
    with simulator() as sim:
        members(sim, people, state, tmp_path)
        requests = sim.stats()["requests"]
        many = delinks(tmp_path / "many.jsonl", people[:10])     # 20% of the 50 linked
        # With a store the guard is on by default, at 10%.
        refused = night(sim, "delink", many, tmp_path / "2", state)
        assert refused.returncode == 2, refused.stderr
        assert "10%" in refused.stderr, refused.stderr
        share = night(sim, "delink", many, tmp_path / "3", state, "--max-delinks", "15%")
        assert share.returncode == 2, share.stderr
        assert sim.stats()["requests"] == requests                # nothing sent
        assert not (tmp_path / "2").exists() and not (tmp_path / "3").exists()
        for planned in (cli("plan", "--delink", str(many), "--state", str(state),
                            "--base-url", sim.base_url),
                        cli("plan", "--delink", str(many))):
            assert planned.returncode == 0, planned.stderr
            assert "10 customers, 10 program memberships" in planned.stdout, planned.stdout
        assert sim.stats()["requests"] == requests
        few = delinks(tmp_path / "few.jsonl", people[:5])         # exactly 10%
        within = night(sim, "delink", few, tmp_path / "4", state)
        assert within.returncode == 0 and outcomes(tmp_path / "4") == {"ok": 5}, within
        gone = night(sim, "delink", many, tmp_path / "5", state, "--max-delinks", "25%")
        assert gone.returncode == 0, gone.stderr
        assert outcomes(tmp_path / "5") == {"ok": 5, "unchanged": 5}
        assert tiers(sim, people[:10]) == {None} and tiers(sim, people[10:]) == {"Silver"}


def test_verify_of_a_lost_delink_night_finds_the_store_and_confirms_it(tmp_path: Path) -> None:
    """The delink night's replies all lost: ``verify RUN`` (no ``--state``: the manifest
    names the store) reads them back delinked, and its ``matches`` confirm them in the
    store, so the same leavers the next night are ``unchanged``, nothing sent."""
    people = unlinked(20)
    state = tmp_path / "state.db"
    with simulator() as sim:
        leavers = members(sim, people, state, tmp_path)
        dial(sim, p_lost=1.0)
        lost = night(sim, "delink", leavers, tmp_path / "2", state, "--max-attempts", "1",
                     "--max-delinks", "100%")
        dial(sim, p_lost=0.0)
        assert lost.returncode == 1 and outcomes(tmp_path / "2") == {"retryable": 20}, lost
        checked = cli("verify", str(tmp_path / "2"), "--base-url", sim.base_url,
                      "--rate", "2000/s")
        assert checked.returncode == 0, checked.stderr + checked.stdout
        requests = sim.stats()["requests"]
        again = night(sim, "delink", leavers, tmp_path / "3", state)
        assert again.returncode == 0, again.stderr
        assert outcomes(tmp_path / "3") == {"unchanged": 20}
        assert sim.stats()["requests"] == requests


def test_a_delink_night_killed_then_resumed_without_a_flag_ends_exact_in_the_store(
        tmp_path: Path) -> None:
    people = unlinked(200)
    state = tmp_path / "state.db"
    with simulator(latency_ms=100) as sim:
        leavers = members(sim, people, state, tmp_path)
        proc = cli_popen("delink", str(leavers), "--base-url", sim.base_url, "--run-dir",
                         str(tmp_path / "2"), "--state", str(state), "--rate", "2000/s",
                         "--batch-size", "5", "--concurrency", "1", "--max-delinks", "100%")
        kill_after_results(tmp_path / "2", 30, proc)
        assert tiers(sim, people) == {None, "Silver"}, "the kill came too late"
        resumed = cli("resume", str(tmp_path / "2"), "--base-url", sim.base_url)
        assert resumed.returncode == 0, resumed.stderr
        assert tiers(sim, people) == {None}
        got = results(tmp_path / "2")
        assert sorted(got) == list(range(1, 201))
        assert {r["outcome"] for r in got.values()} <= {"ok", "already"}
        # The store learnt the whole night, the killed session's part too.
        again = night(sim, "delink", leavers, tmp_path / "3", state)
        assert again.returncode == 0 and outcomes(tmp_path / "3") == {"unchanged": 200}, again


def test_verify_sample_of_an_unchanged_delink_night_finds_a_member_linked_again(
        tmp_path: Path) -> None:
    """Drift on a delink night: customers the store calls delinked, linked again behind
    the tool's back, are found by ``verify --sample``, forgotten, and the next delink
    night sends them (and only them)."""
    people = unlinked(20)
    state = tmp_path / "state.db"
    with simulator() as sim:
        leavers = members(sim, people, state, tmp_path)
        assert night(sim, "delink", leavers, tmp_path / "2", state,
                     "--max-delinks", "100%").returncode == 0
        assert night(sim, "delink", leavers, tmp_path / "3", state).returncode == 0
        assert outcomes(tmp_path / "3") == {"unchanged": 20}
        back = people[:3]                                      # linked again, not by us
        assert cli("link", str(links(tmp_path / "back.jsonl", back, "Gold")), "--base-url",
                   sim.base_url, "--run-dir", str(tmp_path / "x"), "--rate", "2000/s",
                   ).returncode == 0
        checked = cli("verify", str(tmp_path / "3"), "--sample", "20", "--base-url",
                      sim.base_url, "--rate", "2000/s")
        assert checked.returncode == 1, checked.stderr + checked.stdout
        assert "3 customers the state store called unchanged" in checked.stdout, checked.stdout
        # Forgotten, they are no longer "linked" in the store: the share guard counts
        # them against the store's 0 linked keys, so the night names its own limit.
        fourth = night(sim, "delink", leavers, tmp_path / "4", state, "--max-delinks", "3")
        assert fourth.returncode == 0, fourth.stderr
        assert outcomes(tmp_path / "4") == {"ok": 3, "unchanged": 17}
        assert tiers(sim, people) == {None}


@pytest.mark.parametrize("form", ["delink", "update"])
def test_linked_by_id_delinked_by_mobile_then_linked_by_id_again_is_sent(
        tmp_path: Path, form: str) -> None:
    """One customer, three identifiers over three nights: the delink by mobile must reach
    the row the link by id confirmed, or the last link would be skipped wrongly."""
    world = world_for()
    people = unlinked(10)
    state = tmp_path / "state.db"
    by_mobile = [{"customer": {"mobile": world.directory.identity(i)["mobile"]},
                  "deLinkFromPartnerPrograms": [{"partnerProgramName": PROGRAM}]}
                 for i in people]
    with simulator(delink_form=form) as sim:
        members(sim, people, state, tmp_path)
        gone = night(sim, "delink", write(tmp_path / "m.jsonl", by_mobile), tmp_path / "2",
                     state, "--max-delinks", "100%")
        assert gone.returncode == 0 and outcomes(tmp_path / "2") == {"ok": 10}, gone.stderr
        assert tiers(sim, people) == {None}
        back = night(sim, "link", tmp_path / "l.jsonl", tmp_path / "3", state)
        assert back.returncode == 0, back.stderr
        assert outcomes(tmp_path / "3") == {"ok": 10}
        assert tiers(sim, people) == {"Silver"}
