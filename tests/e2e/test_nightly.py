"""Nightly full exports with a state store (issue 21), end to end: the CLI as a
user runs it, the simulator's world as the truth, SQLite as the store."""

from __future__ import annotations

import math
import signal
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.helpers import (
    PROGRAM,
    TIERS,
    cli,
    cli_popen,
    dial,
    kill_after_results,
    linked,
    results,
    simulator,
    wait_for_results,
    wait_until,
    world_for,
)

EXPIRY = "2099-12-31T23:59:59+05:30"


def night_file(path: Path, tiers: dict[int, str], ident: Any = None) -> Path:
    """One update a line: customer ``i`` (named by ``ident(i)``, default its id) to
    ``tiers[i]``, with an expiry, so an unchanged one can be skipped."""
    ident = ident or (lambda i: {"id": 100_000 + i})
    with path.open("wb") as fh:
        for i, tier in tiers.items():
            fh.write(orjson.dumps({"customer": ident(i), "partnerProgramUpdates": [
                {"partnerProgramName": PROGRAM, "updateType": "UPGRADE", "updateDetails": {
                    "updatedTierName": tier, "updatedTierExpiryDate": EXPIRY}}]}) + b"\n")
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The store's URL: a SQLite file, or a fresh database in the tests' PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("postgres").new_database())


def run(sim: Any, source: Path, run_dir: Path, state: Path | str, *extra: str) -> Any:
    return cli("run", str(source), "--base-url", sim.base_url, "--run-dir", str(run_dir),
               "--state", str(state), "--rate", "2000/s", *extra)


def summary(run_dir: Path) -> dict[str, Any]:
    return orjson.loads((run_dir / "summary.json").read_bytes())  # type: ignore[no-any-return]


def held(sim: Any, tiers: dict[int, str]) -> dict[int, str]:
    """Customers whose tier in the world is not what ``tiers`` wants."""
    return {i: t for i, t in tiers.items() if sim.world.link(i, PROGRAM)[0] != t}


def changed(tiers: dict[int, str], every: int) -> tuple[dict[int, str], int]:
    out = dict(tiers)
    picked = list(tiers)[::every]
    for i in picked:
        out[i] = TIERS[(TIERS.index(tiers[i]) + 1) % 4]
    return out, len(picked)


def test_night_two_sends_only_the_changes_and_every_customer_ends_as_it_wants(
        tmp_path: Path, store: str) -> None:
    ids = linked(1000, world_for())
    one = {i: TIERS[i % 4] for i in ids}
    two, changes = changed(one, 10)
    state = store
    with simulator() as sim:
        first = run(sim, night_file(tmp_path / "n1.jsonl", one), tmp_path / "n1", state)
        assert first.returncode == 0, first.stderr
        assert not held(sim, one)
        plan = cli("plan", str(night_file(tmp_path / "n2.jsonl", two)), "--base-url",
                   sim.base_url, "--state", state)
        assert plan.returncode == 0 and f"{changes:,} to send" in plan.stdout, plan
        second = run(sim, tmp_path / "n2.jsonl", tmp_path / "n2", state)
        assert second.returncode == 0, second.stderr
        assert not held(sim, two)
        s = summary(tmp_path / "n2")
        assert s["outcomes"]["ok"] == changes and s["outcomes"]["unchanged"] == 1000 - changes
        assert s["requests"] <= math.ceil(changes / 50) * 1.05
        # The plan came first, with the transitions it found.
        assert "plan: 1,000 records" in second.stderr and "→" in second.stderr
        started = next(orjson.loads(line) for line in second.stderr.splitlines()
                       if '"run.started"' in line)
        assert started["records_left"] == changes   # what will be sent, not the file
        got = results(tmp_path / "n2")
        assert len(got) == 1000
        skipped = next(r for r in got.values() if r["outcome"] == "unchanged")
        assert skipped["attempts"] == 0 and skipped["customerId"] is not None
        assert not (tmp_path / "n2" / "retry.jsonl").read_bytes()
        full = run(sim, tmp_path / "n2.jsonl", tmp_path / "n3", state, "--full")
        assert full.returncode == 0 and summary(tmp_path / "n3")["outcomes"]["ok"] == 1000


def test_max_changes_and_max_missing_stop_before_anything_is_sent(tmp_path: Path,
                                                                 store: str) -> None:
    ids = linked(200, world_for())
    one = {i: TIERS[i % 4] for i in ids}
    state = store
    with simulator() as sim:
        assert run(sim, night_file(tmp_path / "n1.jsonl", one), tmp_path / "n1",
                   state).returncode == 0
        sent = sim.stats()["requests"]
        many, _ = changed(one, 2)                      # half the tiers change
        refused = run(sim, night_file(tmp_path / "n2.jsonl", many), tmp_path / "n2", state,
                      "--max-changes", "10%")
        assert refused.returncode == 2, refused.stderr
        assert "plan:" in refused.stderr and "--max-changes 10%" in refused.stderr
        half = dict(list(one.items())[:100])           # a truncated export
        missing = run(sim, night_file(tmp_path / "n3.jsonl", half), tmp_path / "n3", state,
                      "--max-missing", "10%")
        assert missing.returncode == 2, missing.stderr
        assert "--max-missing 10%" in missing.stderr and "100 keys" in missing.stderr
        assert sim.stats()["requests"] == sent         # nothing sent
        for run_dir in (tmp_path / "n2", tmp_path / "n3"):
            assert not run_dir.exists()                # nothing resume would pick up
        plan = cli("plan", str(tmp_path / "n2.jsonl"), "--base-url", sim.base_url,
                   "--state", str(state), "--max-changes", "10%")
        assert plan.returncode == 2 and "100 to send" in plan.stdout
        assert sim.stats()["requests"] == sent
        # The same night within its limits goes.
        ok = run(sim, tmp_path / "n2.jsonl", tmp_path / "n2", state, "--max-changes", "60%")
        assert ok.returncode == 0, ok.stderr
        assert not held(sim, many)


def test_a_night_killed_half_way_then_run_again_skips_nothing_of_unknown_fate(
        tmp_path: Path, store: str) -> None:
    ids = linked(400, world_for())
    one = {i: TIERS[i % 4] for i in ids}
    two, changes = changed(one, 2)
    state = store
    with simulator(latency_ms=150) as sim:
        assert run(sim, night_file(tmp_path / "n1.jsonl", one), tmp_path / "n1", state,
                   "--concurrency", "8").returncode == 0
        source = night_file(tmp_path / "n2.jsonl", two)
        proc = cli_popen("run", str(source), "--base-url", sim.base_url, "--run-dir",
                         str(tmp_path / "n2"), "--state", str(state), "--rate", "2000/s",
                         "--batch-size", "5", "--concurrency", "1")
        wait_for_results(tmp_path / "n2", 400 - changes + 20, proc)   # unchanged + some sent
        wait_until(lambda: sim.stats()["in_flight"] >= 1, what="a request in flight",
                   alive=proc)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        assert held(sim, two), "the kill came too late to test anything"
        # Never resumed: a new run of the same file.
        again = run(sim, source, tmp_path / "n2b", state)
        assert again.returncode == 0, again.stderr
        assert not held(sim, two)
        before, after = results(tmp_path / "n2"), results(tmp_path / "n2b")
        in_flight = {line for raw in (tmp_path / "n2" / "sent.jsonl").read_bytes().splitlines()
                     if b'"lines"' in raw for line in orjson.loads(raw)["lines"]} - set(before)
        assert in_flight, "the kill found nothing in flight"
        # The ledger is the authority: what night 2 had written ok is skipped now (the
        # new run replayed it first); what was in flight, of unknown fate, is sent.
        for line, result in before.items():
            assert after[line]["outcome"] == "unchanged", (line, result, after[line])
        for line in in_flight:
            assert after[line]["outcome"] == "ok", after[line]


def test_three_nights_with_lost_replies_every_unknown_fate_is_sent_again(
        tmp_path: Path, store: str) -> None:
    ids = linked(300, world_for())
    one = {i: TIERS[i % 4] for i in ids}
    two, _ = changed(one, 3)                          # about 30 % change
    state = store
    with simulator() as sim:
        assert run(sim, night_file(tmp_path / "n1.jsonl", one), tmp_path / "n1",
                   state).returncode == 0
        dial(sim, p_lost=0.5)
        second = run(sim, night_file(tmp_path / "n2.jsonl", two), tmp_path / "n2", state,
                     "--max-attempts", "1", "--batch-size", "10")
        assert second.returncode == 1, second.stderr
        unknown = [r for r in results(tmp_path / "n2").values() if r["outcome"] == "retryable"]
        assert unknown
        dial(sim, p_lost=0.0)
        third = run(sim, tmp_path / "n1.jsonl", tmp_path / "n3", state)
        assert third.returncode == 0, third.stderr
        assert not held(sim, one)
        sent = {r["line"] for r in results(tmp_path / "n3").values() if r["outcome"] == "ok"}
        assert {r["line"] for r in unknown} <= sent


def test_one_customer_by_mobile_then_external_id_then_mobile_every_change_is_sent(
        tmp_path: Path) -> None:
    world = world_for()
    i = linked(1, world)[0]
    who = world.directory.identity(i)
    state = tmp_path / "state.db"
    with simulator() as sim:
        for n, (ident, tier) in enumerate([({"mobile": who["mobile"]}, "Gold"),
                                           ({"externalId": who["externalId"]}, "Silver"),
                                           ({"mobile": who["mobile"]}, "Platinum")]):
            source = night_file(tmp_path / f"n{n}.jsonl", {i: tier}, lambda _, c=ident: c)
            done = run(sim, source, tmp_path / f"n{n}", state)
            assert done.returncode == 0, done.stderr
            assert summary(tmp_path / f"n{n}")["outcomes"]["ok"] == 1
            assert sim.world.link(i, PROGRAM)[0] == tier


def test_a_customer_twice_in_one_file_the_later_line_is_sent(tmp_path: Path) -> None:
    i = linked(1, world_for())[0]
    state = tmp_path / "state.db"
    with simulator() as sim:
        assert run(sim, night_file(tmp_path / "n1.jsonl", {i: "Gold"}), tmp_path / "n1",
                   state).returncode == 0
        source = tmp_path / "n2.jsonl"
        source.write_bytes(night_file(tmp_path / "a", {i: "Silver"}).read_bytes()
                           + night_file(tmp_path / "b", {i: "Gold"}).read_bytes())
        done = run(sim, source, tmp_path / "n2", state)
        assert done.returncode == 0, done.stderr
        assert [r["outcome"] for r in results(tmp_path / "n2").values()] == ["ok", "ok"]
        assert sim.world.link(i, PROGRAM)[0] == "Gold"


def test_drift_found_by_verify_sample_is_put_right_the_next_night(tmp_path: Path) -> None:
    ids = linked(200, world_for())
    one = {i: TIERS[i % 4] for i in ids}
    state = tmp_path / "state.db"
    with simulator() as sim:
        source = night_file(tmp_path / "n1.jsonl", one)
        assert run(sim, source, tmp_path / "n1", state).returncode == 0
        assert run(sim, source, tmp_path / "n2", state).returncode == 0
        assert summary(tmp_path / "n2")["outcomes"]["unchanged"] == 200
        drifted = ids[:5]
        for i in drifted:   # changed behind the tool's back
            sim.world.apply_item({"customer": {"id": 100_000 + i}, "partnerProgramUpdates": [
                {"partnerProgramName": PROGRAM, "updateType": "UPGRADE", "updateDetails": {
                    "updatedTierName": TIERS[(TIERS.index(one[i]) + 2) % 4]}}]}, 0.0)
        assert set(held(sim, one)) == set(drifted)
        checked = cli("verify", str(tmp_path / "n2"), "--sample", "200", "--base-url",
                      sim.base_url, "--rate", "2000/s")
        assert checked.returncode == 1, checked.stderr
        assert "5 customers the state store called unchanged" in checked.stdout
        assert "verify reads back" in checked.stderr   # its cost, said before reading
        third = run(sim, source, tmp_path / "n3", state)
        assert third.returncode == 0, third.stderr
        assert not held(sim, one)
        assert summary(tmp_path / "n3")["outcomes"]["ok"] == 5


def test_state_import_seeds_the_store_show_says_it_and_forget_erases_one_person(
        tmp_path: Path) -> None:
    ids = linked(100, world_for())
    one = {i: TIERS[i % 4] for i in ids}
    state = tmp_path / "state.db"
    with simulator() as sim:
        source = night_file(tmp_path / "n0.jsonl", one)
        before = cli("run", str(source), "--base-url", sim.base_url, "--run-dir",
                     str(tmp_path / "n0"), "--rate", "2000/s")   # a night without a store
        assert before.returncode == 0, before.stderr
        where = ("--state", str(state), "--base-url", sim.base_url)
        seeded = cli("state", "import", str(tmp_path / "n0"), *where)
        assert seeded.returncode == 0 and "imported 100 results" in seeded.stdout, seeded
        shown = cli("state", *where)
        assert shown.returncode == 0 and "Apparel-Partner" in shown.stdout, shown
        gone = cli("state", "forget", "--customer", str(100_000 + ids[0]), *where)
        assert gone.returncode == 0 and "forgot the customer" in gone.stdout, gone
        first = run(sim, source, tmp_path / "n1", state)
        assert first.returncode == 0, first.stderr
        # Seeded: the first night with a store sends only the person it forgot.
        assert summary(tmp_path / "n1")["outcomes"] == {**summary(tmp_path / "n1")["outcomes"],
                                                        "ok": 1, "unchanged": 99}
        bad = cli("state", "forget", *where)
        assert bad.returncode == 2 and "--customer" in bad.stderr


def test_resume_after_kill_finds_its_store_without_a_flag_and_keeps_its_plan(
        tmp_path: Path) -> None:
    ids = linked(300, world_for())
    one = {i: TIERS[i % 4] for i in ids}
    two, changes = changed(one, 2)
    state = tmp_path / "state.db"
    with simulator(latency_ms=150) as sim:
        assert run(sim, night_file(tmp_path / "n1.jsonl", one), tmp_path / "n1",
                   state).returncode == 0
        run_dir = tmp_path / "n2"
        proc = cli_popen("run", str(night_file(tmp_path / "n2.jsonl", two)), "--base-url",
                         sim.base_url, "--run-dir", str(run_dir), "--state", str(state),
                         "--rate", "2000/s", "--batch-size", "5", "--concurrency", "1")
        kill_after_results(run_dir, 300 - changes + 10, proc)
        assert held(sim, two)
        done = cli("resume", str(run_dir), "--base-url", sim.base_url)
        assert done.returncode == 0, done.stderr
        assert not held(sim, two)
        got = results(run_dir)
        assert len(got) == 300
        assert sum(r["outcome"] == "unchanged" for r in got.values()) == 300 - changes
        # The store learnt night 2: the same file again sends nothing.
        again = run(sim, tmp_path / "n2.jsonl", tmp_path / "n3", state)
        assert again.returncode == 0, again.stderr
        assert summary(tmp_path / "n3")["outcomes"]["unchanged"] == 300


def test_a_link_night_then_the_same_file_again_sends_nothing(tmp_path: Path) -> None:
    world = world_for()
    people = [i for i in range(2000) if world.link(i, PROGRAM)[0] is None][:60]
    source = tmp_path / "link.jsonl"
    source.write_bytes(b"".join(orjson.dumps({
        "customer": {"id": 100_000 + i}, "linkToPartnerPrograms": [{
            "partnerProgramName": PROGRAM, "customerPartnerReference": {
                "partnerTierName": "Silver", "partnerTierExpiryDate": EXPIRY}}]}) + b"\n"
        for i in people))
    state = tmp_path / "state.db"
    with simulator() as sim:
        for night in ("l1", "l2"):
            done = cli("link", str(source), "--base-url", sim.base_url, "--run-dir",
                       str(tmp_path / night), "--state", str(state), "--rate", "2000/s")
            assert done.returncode == 0, done.stderr
        assert summary(tmp_path / "l1")["outcomes"]["ok"] == 60
        assert summary(tmp_path / "l2")["outcomes"]["unchanged"] == 60
        assert summary(tmp_path / "l2")["requests"] == 0
        assert all(sim.world.link(i, PROGRAM)[0] == "Silver" for i in people)
