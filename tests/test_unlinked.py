"""``bulkupdate report RUN --unlinked``: a run's 2004s become link input that,
once completed, links those customers, and the same updates then apply."""

from __future__ import annotations

import io
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import orjson

from bulkupdate.night.runner import run
from bulkupdate.report.unlinked import unlinked, write_unlinked
from bulkupdate.simulator import SimConfig, World
from bulkupdate.simulator.server import basic_credential
from bulkupdate.source.validate import Invalid, Record, validate_link_line
from tests.helpers import PASSWORD, USER, cli, fast_settings, results, simulator

FUTURE = "2027-12-29T23:59:59+05:30"
WORLD = World(SimConfig(customers=20_000))


def _update(i: int, program: str, ref: str) -> dict:
    return {"customer": {"mobile": WORLD.directory.identity(i)["mobile"]}, "ref": ref,
            "partnerProgramUpdates": [{"partnerProgramName": program, "updateType": "UPGRADE",
                                       "updateDetails": {"updatedTierName": "Gold",
                                                         "updatedTierExpiryDate": FUTURE}}]}


def _input(tmp_path: Path) -> tuple[Path, list[int], int]:
    """Three customers not linked to Apparel-Partner (one of them on two lines),
    one linked to it."""
    free = [i for i in range(200) if WORLD.link(i, "Apparel-Partner")[0] is None][:3]
    held = next(i for i in range(200) if WORLD.link(i, "Apparel-Partner")[0] is not None)
    lines = [_update(i, "Apparel-Partner", f"r{i}") for i in free]
    lines += [_update(held, "Apparel-Partner", "held"), _update(free[0], "Apparel-Partner", "x")]
    path = tmp_path / "updates.jsonl"
    path.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))
    return path, free, held


def test_the_2004s_of_a_run_become_link_input_that_links_and_then_updates(
        tmp_path: Path) -> None:
    path, free, _ = _input(tmp_path)
    with simulator() as sim:
        run(path, fast_settings(sim.base_url), run_dir=tmp_path / "night")
        proc = cli("report", str(tmp_path / "night"), "--unlinked")
        assert proc.returncode == 0, proc.stderr
        items = [orjson.loads(x) for x in proc.stdout.splitlines()]
        assert [x["customer"] for x in items] == [
            {"mobile": WORLD.directory.identity(i)["mobile"]} for i in free]
        assert [x["ref"] for x in items] == [f"r{i}" for i in free]
        assert all(x["linkToPartnerPrograms"] == [{"partnerProgramName": "Apparel-Partner",
                                                   "customerPartnerReference": {}}]
                   for x in items)
        assert "3 customers refused with 2004" in proc.stderr
        now = datetime.now(UTC)
        # As written, a line names what to complete; completed, it is a link item.
        raw = proc.stdout.splitlines()[0].encode()
        first = validate_link_line(1, raw, now)
        assert isinstance(first, Invalid)
        assert first.field.endswith("customerPartnerReference.partnerTierName")
        for x in items:
            x["linkToPartnerPrograms"][0]["customerPartnerReference"] = {
                "partnerTierName": "Silver", "partnerTierExpiryDate": FUTURE}
            assert isinstance(validate_link_line(1, orjson.dumps(x), now), Record)
        # Linked through the simulator's link endpoint, the night's updates apply.
        assert _link(sim.base_url, items) == [[200]] * len(free)
        run(path, fast_settings(sim.base_url), run_dir=tmp_path / "again")
    assert {r["outcome"] for r in results(tmp_path / "again").values()} == {"ok"}


def _link(base_url: str, items: list[dict]) -> list[list[int]]:
    body = orjson.dumps({"linkCustomers": [{k: v for k, v in x.items() if k != "ref"}
                                           for x in items]})
    request = urllib.request.Request(
        base_url + "/v2/partnerProgram/linkCustomer", data=body, method="POST",
        headers={"Authorization": "Basic " + basic_credential(USER, PASSWORD),
                 "Content-Type": "application/json"})
    with urllib.request.urlopen(request) as answer:
        return [[p["partnerLinkStatus"]["code"] for p in x["linkToPartnerPrograms"]]
                for x in orjson.loads(answer.read())["linkCustomers"]]


def test_nothing_unlinked_writes_nothing() -> None:
    assert unlinked(iter([{"line": 1, "outcome": "ok", "customer": {"id": 1}, "programs": [
        {"partnerProgramName": "A", "updateType": "UPGRADE", "ok": True, "code": 200}]}])) == []


def test_several_programs_of_one_customer_are_one_line_without_repeats() -> None:
    def refused(*names: str) -> dict:
        return {"line": 1, "outcome": "rejected", "customer": {"id": 100001}, "programs": [
            {"partnerProgramName": n, "updateType": "UPGRADE", "ok": False, "code": 2004}
            for n in names]}
    items = unlinked(iter([refused("A", "B"), refused("B", "C")]))
    assert [p["partnerProgramName"] for p in items[0]["linkToPartnerPrograms"]] == ["A", "B", "C"]
    assert len(items) == 1 and "ref" not in items[0]


def test_a_directory_that_is_not_a_run_is_refused(tmp_path: Path) -> None:
    proc = cli("report", str(tmp_path), "--unlinked")
    assert proc.returncode == 2 and "bulkupdate:" in proc.stderr and not proc.stdout


def test_write_unlinked_counts_what_it_writes(tmp_path: Path) -> None:
    path, free, _ = _input(tmp_path)
    with simulator() as sim:
        run(path, fast_settings(sim.base_url), run_dir=tmp_path / "night")
    out = io.StringIO()
    assert write_unlinked(tmp_path / "night", out) == len(free) == len(out.getvalue().split())
