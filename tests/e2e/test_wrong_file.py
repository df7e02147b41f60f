"""Silent wrong-file nights, refused or named from the command line (issue 23):
another command's input, an empty file to validate, the same input twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from tests.helpers import cli, linked_spp_ids

EXPIRY = "2031-01-01T00:00:00Z"


def updates(ids: list[int]) -> bytes:
    return b"".join(orjson.dumps({"customer": {"id": i}, "partnerProgramUpdates": [
        {"partnerProgramName": "SPP_1", "updateType": "RENEW",
         "updateDetails": {"updatedTierName": "Plus", "updatedTierExpiryDate": EXPIRY}}]})
        + b"\n" for i in ids)


def links(ids: list[int]) -> bytes:
    return b"".join(orjson.dumps({"customer": {"id": i}, "linkToPartnerPrograms": [
        {"partnerProgramName": "SPP_1", "customerPartnerReference": {"partnerTierName": "Plus"}}]})
        + b"\n" for i in ids)


def test_a_link_file_given_to_run_is_refused_naming_link(tmp_path: Path, sim: Any) -> None:
    src = tmp_path / "links.jsonl"
    src.write_bytes(links(list(range(100_000, 100_040))))
    proc = cli("run", str(src), "--base-url", sim.base_url, "--run-dir", str(tmp_path / "run"))
    assert proc.returncode == 2, proc.stderr
    assert f"did you mean `bulkupdate link {src}`" in proc.stderr
    assert len(proc.stderr.strip().splitlines()[-1]) > 0
    assert sim.stats()["requests"] == 0 and not (tmp_path / "run").exists()
    src = tmp_path / "updates.jsonl"
    src.write_bytes(updates([100_001, 100_002]))
    proc = cli("link", str(src), "--base-url", sim.base_url)
    assert proc.returncode == 2 and f"did you mean `bulkupdate run {src}`" in proc.stderr
    proc = cli("validate", str(src), "--link")
    assert proc.returncode == 2 and "did you mean `bulkupdate run" in proc.stderr
    assert sim.stats()["requests"] == 0


def test_validate_of_an_empty_file_exits_as_run_would(tmp_path: Path) -> None:
    src = tmp_path / "empty.jsonl"
    src.write_bytes(b"\n\n")
    proc = cli("validate", str(src))
    assert proc.returncode == 2 and "no records in" in proc.stderr
    assert cli("validate", str(src), "--allow-empty").returncode == 0


def test_the_same_input_twice_is_sent_with_a_warning_naming_the_first_run(
        tmp_path: Path, sim: Any) -> None:
    ids = linked_spp_ids(sim, 3)
    first, again = tmp_path / "tonight.jsonl", tmp_path / "copy.jsonl"
    first.write_bytes(updates(ids))
    again.write_bytes(updates(ids))
    runs = tmp_path / "runs"
    proc = cli("run", str(first), "--base-url", sim.base_url, "--run-dir", str(runs / "one"),
               "--log-format", "text")
    assert proc.returncode == 0 and "already finished" not in proc.stderr
    proc = cli("run", str(again), "--base-url", sim.base_url, "--run-dir", str(runs / "two"),
               "--log-format", "text")
    assert proc.returncode == 0, proc.stderr           # the exit is unchanged
    assert f"already finished in {runs / 'one'}" in proc.stderr
    assert sim.stats()["items"] == 6                   # and it was sent again
    # A run's own follow-up file is meant to be run: no warning.
    (runs / "one" / "retry.jsonl").write_bytes(updates(ids))
    proc = cli("run", str(runs / "one" / "retry.jsonl"), "--base-url", sim.base_url,
               "--run-dir", str(runs / "three"), "--log-format", "text")
    assert proc.returncode == 0 and "already finished" not in proc.stderr


def test_a_wrong_port_says_check_base_url(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:       # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    src = tmp_path / "in.jsonl"
    src.write_bytes(updates([100_001]))
    proc = cli("run", str(src), "--base-url", url, "--run-dir", str(tmp_path / "run"),
               "--max-attempts", "2", "--log-format", "text")
    assert proc.returncode == 3, proc.stderr
    assert f"nothing answers at {url}: check --base-url" in proc.stderr
    assert "when it is back" not in proc.stderr


def test_an_extra_csv_column_runs_only_when_named(tmp_path: Path, sim: Any) -> None:
    ids = linked_spp_ids(sim, 2)
    src = tmp_path / "tiers.csv"
    src.write_text("id,partnerProgramName,updateType,updatedTierName,Notes\n" + "".join(
        f'{i},SPP_1,RENEW,Plus,"agent, call"\n' for i in ids))
    proc = cli("run", str(src), "--base-url", sim.base_url)
    assert proc.returncode == 2 and "--ignore-column Notes" in proc.stderr
    assert cli("validate", str(src), "--ignore-column", "Notes").returncode == 0
    run_dir = tmp_path / "run"
    proc = cli("run", str(src), "--base-url", sim.base_url, "--run-dir", str(run_dir),
               "--ignore-column", "Notes")
    assert proc.returncode == 0, proc.stderr
    assert sim.stats()["items"] == 2
    assert "nothing to do" in cli("resume", str(run_dir)).stdout
    src = tmp_path / "links.csv"
    src.write_text(f"id,partnerProgramName,partnerTierName\n{ids[0]},SPP_1,Plus\n")
    proc = cli("run", str(src), "--base-url", sim.base_url)
    assert proc.returncode == 2 and f"did you mean `bulkupdate link {src}`" in proc.stderr


def test_a_windows_1252_csv_is_refused_then_read_with_encoding(tmp_path: Path, sim: Any) -> None:
    ids = linked_spp_ids(sim, 3)
    src = tmp_path / "excel.csv"
    src.write_bytes("".join(f"{i};SPP_1;RENEW;Plus;caf\u00e9\r\n" for i in ids).join(
        ["id;partnerProgramName;updateType;updatedTierName;ref\r\n", ""]).encode("cp1252"))
    proc = cli("run", str(src), "--base-url", sim.base_url)
    assert proc.returncode == 2 and "--encoding WINDOWS-1252" in proc.stderr
    assert sim.stats()["requests"] == 0
    run_dir = tmp_path / "run"
    proc = cli("run", str(src), "--base-url", sim.base_url, "--run-dir", str(run_dir),
               "--encoding", "WINDOWS-1252")
    assert proc.returncode == 0, proc.stderr
    got = [orjson.loads(raw) for raw in (run_dir / "results.jsonl").read_bytes().splitlines()]
    assert [r["ref"] for r in got] == ["caf\u00e9"] * 3
