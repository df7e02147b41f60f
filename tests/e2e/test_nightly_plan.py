"""A night with the state store, end to end (issue 21), the parts a user reads
first or guards most: the run's first lines are its plan, every category of it
counted; a password in a ``postgresql://`` URL is refused and never echoed; and
``state forget --customer`` leaves no trace of the person in the SQLite file."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson

from tests.helpers import PROGRAM, TIERS, cli, dial, linked, simulator, world_for

EXPIRY = "2099-12-31T23:59:59+05:30"
DAY = 86_400 * 1_000_000        # the store's times are microseconds


def night_file(path: Path, tiers: dict[int, str], ident: Any = None) -> Path:
    ident = ident or (lambda i: {"id": 100_000 + i})
    path.write_bytes(b"".join(orjson.dumps({"customer": ident(i), "partnerProgramUpdates": [
        {"partnerProgramName": PROGRAM, "updateType": "UPGRADE", "updateDetails": {
            "updatedTierName": tier, "updatedTierExpiryDate": EXPIRY}}]}) + b"\n"
        for i, tier in tiers.items()))
    return path


def run(sim: Any, source: Path, run_dir: Path, state: Path | str, *extra: str) -> Any:
    return cli("run", str(source), "--base-url", sim.base_url, "--run-dir", str(run_dir),
               "--state", str(state), "--rate", "2000/s", *extra)


def other(tier: str) -> str:
    return TIERS[(TIERS.index(tier) + 1) % len(TIERS)]


def plan_lines(stderr: str) -> tuple[list[str], list[str]]:
    """The run.plan event's lines, and the names of the events on stderr in order."""
    events = [orjson.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    plan = next(e["plan"] for e in events if e["event"] == "run.plan")
    return plan.splitlines(), [e["event"] for e in events]


def count(lines: list[str], label: str) -> int:
    line = next(x for x in lines if x.strip().startswith(label))
    return int(line.split()[-1].replace(",", ""))


def test_the_runs_first_lines_are_its_plan_with_every_category(tmp_path: Path) -> None:
    people = linked(130, world_for())
    known, rejected, new = people[:100], people[100:105], people[105:110]
    one = {i: TIERS[i % 4] for i in known}
    state = tmp_path / "state.db"
    with simulator() as sim:
        first = run(sim, night_file(tmp_path / "n1.jsonl", {
            **one, **{i: "Unobtainium" for i in rejected}}), tmp_path / "n1", state)
        assert first.returncode == 1, first.stderr          # the five 2007s
        lost = {i: other(one[i]) for i in known[:10]}
        dial(sim, p_lost=1.0)                                # their fate unknown: pending
        assert run(sim, night_file(tmp_path / "lost.jsonl", lost), tmp_path / "lost", state,
                   "--max-attempts", "1").returncode == 1
        dial(sim, p_lost=0.0)
        with sqlite3.connect(state) as db:                   # time passes for ten keys
            for i in known[10:15]:
                db.execute("UPDATE state SET confirmed_at = confirmed_at - 40 * ? "
                           "WHERE customer = ?", (DAY, f"id:{100_000 + i}"))
            for i in known[15:20]:
                db.execute("UPDATE state SET expiry = confirmed_at - ? WHERE customer = ?",
                           (DAY, f"id:{100_000 + i}"))
        two = {**lost, **{i: one[i] for i in known[10:20]},
               **{i: other(one[i]) for i in known[20:30]}, **{i: one[i] for i in known[30:90]},
               **{i: TIERS[0] for i in rejected + new}}   # known[90:] absent tonight
        second = run(sim, night_file(tmp_path / "n2.jsonl", two), tmp_path / "n2", state,
                     "--log-format", "json")
    assert second.returncode == 0, second.stderr
    lines, order = plan_lines(second.stderr)
    assert order.index("run.plan") < order.index("run.started")   # said before it starts
    assert lines[0] == "plan: 100 records (0 invalid): 40 to send, 60 unchanged", lines
    assert count(lines, "new keys") == 5
    # The ten lost, and the five rejected: a rejection confirms nothing.
    assert count(lines, "pending from earlier nights") == 15
    assert count(lines, "expired") == 5
    assert count(lines, "due for refresh") == 5
    assert count(lines, "changed in Apparel-Partner") == count(lines, "changed") == 10
    transitions = [x.strip() for x in lines if "→" in x]
    assert sum(int(x.split()[-1]) for x in transitions) == 10, transitions
    assert count(lines, "rejected last time") == 5
    absent = next(x for x in lines if "absent from this file" in x)
    assert "10" in absent.split() and f"{PROGRAM} 10" in absent
    assert any(x.strip().startswith("about ") and " at " in x for x in lines), lines


def test_a_password_in_a_postgresql_state_url_is_refused_and_never_echoed(
        tmp_path: Path) -> None:
    source = night_file(tmp_path / "n.jsonl", {0: "Gold"})
    secret = "Hunter2-NotToBeSeen"
    url = f"postgresql://bu:{secret}@127.0.0.1:1/bulkupdate"
    with simulator() as sim:
        by_flag = run(sim, source, tmp_path / "r", url)
        by_env = cli("run", str(source), "--base-url", sim.base_url, "--run-dir",
                     str(tmp_path / "e"), env={"BULKUPDATE_STATE": url})
        planned = cli("plan", str(source), "--base-url", sim.base_url, "--state", url)
        shown = cli("state", "--state", url, "--base-url", sim.base_url)
        requests = sim.stats()["requests"]
    for refused in (by_flag, by_env, planned, shown):
        assert refused.returncode == 2, refused.stderr
        assert "password" in refused.stderr and "PGPASSWORD" in refused.stderr
        assert secret not in refused.stderr + refused.stdout
    assert requests == 0
    assert not (tmp_path / "r").exists() and not (tmp_path / "e").exists()


def test_forget_a_customer_leaves_no_trace_of_the_mobile_in_the_sqlite_files(
        tmp_path: Path) -> None:
    world = world_for()
    people = linked(20, world)
    mobile = {i: world.directory.identity(i)["mobile"] for i in people}
    state = tmp_path / "state.db"
    with simulator() as sim:
        source = night_file(tmp_path / "n1.jsonl", {i: TIERS[i % 4] for i in people},
                            lambda i: {"mobile": mobile[i]})
        assert run(sim, source, tmp_path / "n1", state).returncode == 0

        def stored() -> bytes:
            return b"".join(p.read_bytes() for p in tmp_path.glob("state.db*") if p.is_file())

        gone, kept = str(mobile[people[0]]), str(mobile[people[1]])
        assert gone.encode() in stored() and kept.encode() in stored()
        forgot = cli("state", "forget", "--customer", f"mobile:{gone}", "--state", str(state),
                     "--base-url", sim.base_url)
        assert forgot.returncode == 0 and "forgot the customer" in forgot.stdout, forgot
        assert gone.encode() not in stored()                 # not in the file, nor its WAL
        assert kept.encode() in stored()
        with sqlite3.connect(state) as db:
            left = db.execute("SELECT COUNT(*) FROM state WHERE customer = ?",
                              (f"id:{100_000 + people[0]}",)).fetchone()[0]
        assert left == 0
        again = run(sim, source, tmp_path / "n2", state)     # the next night sends them
        assert again.returncode == 0, again.stderr
        done = orjson.loads((tmp_path / "n2" / "summary.json").read_bytes())["outcomes"]
        assert done["ok"] == 1 and done["unchanged"] == 19
