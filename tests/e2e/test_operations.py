"""Nightly operations against the real simulator: json logs and the heartbeat,
Prometheus metrics, the HTML and CSV reports, the exit policy, resume's small
courtesies."""

from __future__ import annotations

import random
import re
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bulkupdate import run
from bulkupdate.report import render
from bulkupdate.simulator import SimConfig, write_sample
from tests.helpers import cli, cli_env, cli_popen, fast_settings, linked_spp_ids, results, simulator


def renew(ids: list[int]) -> bytes:
    return b"".join(orjson.dumps({"ref": f"r{i}", "customer": {"id": cid},
                                  "partnerProgramUpdates": [{
                                      "partnerProgramName": "SPP_1", "updateType": "RENEW",
                                      "updateDetails": {"updatedTierName": "Plus"}}]}) + b"\n"
                    for i, cid in enumerate(ids))


def unknown(n: int) -> bytes:
    """Customers the simulator does not know: each is rejected with 8015."""
    return renew([10_000_000 + i for i in range(n)])


def metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_json_logs_heartbeat_and_live_metrics_off_a_terminal(tmp_path: Path, sim: Any) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(renew(linked_spp_ids(sim, 40)) + unknown(5))
    # 45 requests at 10/s: the run lasts about 4.5 s, long enough to scrape it.
    events = []
    scraped = ""
    with cli_popen("run", str(src), "--run-dir", str(tmp_path / "run"), "--base-url",
                   sim.base_url, "--rate", "10/s", "--batch-size", "1", "--log-format",
                   "json", "--progress-every", "0.5", "--metrics-port", "0") as proc:
        assert proc.stderr is not None
        for line in proc.stderr:
            events.append(orjson.loads(line))   # every stderr line is one JSON object
            if events[-1]["event"] == "metrics.serving":
                with urllib.request.urlopen(events[-1]["url"], timeout=10) as resp:
                    scraped = resp.read().decode()
        assert proc.wait(timeout=60) == 1
    names = [e["event"] for e in events]
    assert names[0] == "metrics.serving" and "run.finished" in names
    beats = [e for e in events if e["event"] == "run.progress"]
    assert beats, names
    for field in ("done", "total", "ok", "rejected", "retryable", "uncertain", "requests",
                  "throttled_answers", "results_per_s", "throttle_pace_ratio", "eta_s",
                  "timestamp", "level"):
        assert field in beats[-1], field
    assert beats[-1]["total"] == 45
    live = metrics(scraped)
    assert ("bulkupdate_throttle_pace_ratio", ()) in live
    assert ("bulkupdate_records_total", (("outcome", "ok"),)) in live
    # The run's own log has the same events, fields and names.
    logged = [orjson.loads(x)["event"] for x in (tmp_path / "run" / "events.jsonl")
              .read_bytes().splitlines()]
    assert logged.count("run.progress") == len(beats)


def test_metrics_file_holds_the_final_figures(tmp_path: Path, sim: Any) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(renew(linked_spp_ids(sim, 30)) + unknown(3))
    prom = tmp_path / "bulkupdate.prom"
    proc = cli("run", str(src), "--run-dir", str(tmp_path / "run"), "--base-url",
               sim.base_url, "--rate", "500/s", "--metrics-file", str(prom))
    assert proc.returncode == 1, proc.stderr
    got = metrics(prom.read_text())
    assert got[("bulkupdate_records_total", (("outcome", "ok"),))] == 30
    assert got[("bulkupdate_records_total", (("outcome", "rejected"),))] == 3
    assert got[("bulkupdate_requests_total", (("status", "201"),))] \
        + got.get(("bulkupdate_requests_total", (("status", "200"),)), 0) >= 1
    assert got[("bulkupdate_request_duration_seconds_count", ())] >= 1
    assert got[("bulkupdate_exit_code", ())] == 1
    assert got[("bulkupdate_records_remaining", ())] == 0


def test_empty_input_exits_2_before_anything_is_created(tmp_path: Path, sim: Any) -> None:
    src = tmp_path / "empty.jsonl"
    src.write_bytes(b"\n  \n")
    env = cli_env(BULKUPDATE_RAET="5/s")
    proc = cli("run", str(src), "--run-dir", str(tmp_path / "run"), "--base-url",
               sim.base_url, "--log-format", "text", env=env)
    assert proc.returncode == 2 and f"no records in {src}" in proc.stderr
    assert not (tmp_path / "run").exists()
    # The misspelt variable is named, with the setting it probably meant.
    assert "BULKUPDATE_RAET" in proc.stderr and "BULKUPDATE_RATE" in proc.stderr
    proc = cli("run", "-", "--run-dir", str(tmp_path / "stdin"), "--base-url", sim.base_url,
               input="")
    assert proc.returncode == 2 and "no records in standard input" in proc.stderr
    assert not (tmp_path / "stdin").exists()
    proc = cli("run", str(src), "--run-dir", str(tmp_path / "run"), "--base-url",
               sim.base_url, "--allow-empty")
    assert proc.returncode == 0, proc.stderr


def test_allow_failures_forgives_definite_failures_only(tmp_path: Path, sim: Any) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(renew(linked_spp_ids(sim, 8)) + unknown(2))
    assert run(src, fast_settings(sim.base_url), run_dir=tmp_path / "strict").exit_code == 1
    assert run(src, fast_settings(sim.base_url, allow_failures="20%"),
               run_dir=tmp_path / "pct").exit_code == 0
    assert run(src, fast_settings(sim.base_url, allow_failures="1"),
               run_dir=tmp_path / "one").exit_code == 1
    with simulator(p_503=1.0) as down:
        outcome = run(src, fast_settings(down.base_url, allow_failures="100%", max_attempts=1),
                      run_dir=tmp_path / "retryable")
    assert outcome.exit_code == 1 and outcome.summary["outcomes"]["retryable"] == 10


def test_resume_of_a_finished_run_has_nothing_to_do(tmp_path: Path, sim: Any) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(renew(linked_spp_ids(sim, 5)) + unknown(1))
    assert cli("run", str(src), "--run-dir", str(tmp_path / "run"), "--base-url",
               sim.base_url).returncode == 1
    proc = cli("resume", str(tmp_path / "run"))
    assert proc.returncode == 1 and "nothing to do" in proc.stdout
    manifest = orjson.loads((tmp_path / "run" / "manifest.json").read_bytes())
    assert len(manifest["sessions"]) == 1
    # The exit policy of this resume applies to the finished run.
    assert cli("resume", str(tmp_path / "run"), "--allow-failures", "1").returncode == 0


def test_resume_against_another_base_url_is_recorded_in_its_session(tmp_path: Path) -> None:
    with simulator(fail_auth=True) as broken:
        src = tmp_path / "in.jsonl"
        src.write_bytes(renew(linked_spp_ids(broken, 5)))
        proc = cli("run", str(src), "--run-dir", str(tmp_path / "run"), "--base-url",
                   broken.base_url)
        assert proc.returncode == 3, proc.stderr
        # Off a terminal, the resume hint is a json event too.
        hint = [orjson.loads(x) for x in proc.stderr.splitlines()][-1]
        assert hint["event"] == "run.resumable" and "bulkupdate resume" in hint["hint"]
    with simulator() as fixed:
        proc = cli("resume", str(tmp_path / "run"), "--base-url", fixed.base_url)
    assert proc.returncode == 0, proc.stderr
    sessions = orjson.loads((tmp_path / "run" / "manifest.json").read_bytes())["sessions"]
    assert "settings_changed" not in sessions[0]
    assert sessions[1]["settings_changed"] == {"base_url": fixed.base_url}


def test_html_report_is_one_self_contained_file(tmp_path: Path) -> None:
    config = SimConfig(customers=20_000)
    with simulator() as sim:
        sample = tmp_path / "mixed.jsonl"
        write_sample(sample, config, 600)
        outcome = run(sample, fast_settings(sim.base_url), run_dir=tmp_path / "run")
    page = render(tmp_path / "run", "html")
    summary = outcome.summary
    assert (tmp_path / "run" / "timeline.jsonl").stat().st_mode & 0o777 == 0o600
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    for external in ("<script", "<link", "<img", "src=", "href=", "url(", "@import"):
        assert external not in page, external
    assert page.count("<svg") >= 4   # outcomes bar, throughput, 429s, latency
    for heading in ("Totals", "Outcomes", "Over time", "API codes by program", "Sessions",
                    "Invalid records by field", "Throughput", "429 answers",
                    "Request latency"):
        assert heading in page, heading
    assert f"exit {outcome.exit_code}:" in page
    # 8015 once per customer, not once per program.
    found = re.search(r"<td>\(customer\)</td><td>8015</td><td>customer not found</td>"
                      r"<td class=n>([\d,]+)</td>", page)
    assert found and int(found.group(1).replace(",", "")) == summary["codes"]["8015"]
    assert f"<b>{summary['outcomes']['invalid']:,}</b>" in page
    for r in results(tmp_path / "run").values():   # aggregates only: no customer shown
        for value in (r.get("customer") or {}).values():
            if isinstance(value, str) and len(value) > 6:
                assert value not in page


def test_csv_report_has_a_field_column(tmp_path: Path, sim: Any) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(renew(linked_spp_ids(sim, 2)) + b'{"customer": {"id": 5}, "x": 1, '
                    b'"partnerProgramUpdates": []}\n')
    run(src, fast_settings(sim.base_url), run_dir=tmp_path / "run")
    lines = render(tmp_path / "run", "csv").splitlines()
    header = lines[0].split(",")
    assert header[-1] == "field"
    invalid = [row for row in lines[1:] if ",invalid," in row]
    assert len(invalid) == 1 and invalid[0].split(",")[-1] != ""


def test_progress_bar_shows_errors_and_429s(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    with simulator(p_429=0.2) as sim:   # seeded: the same 429s every time
        src = tmp_path / "in.jsonl"
        src.write_bytes(renew(linked_spp_ids(sim, 30)) + unknown(4))
        run(src, fast_settings(sim.base_url, progress=True, batch_size=2, max_attempts=10),
            run_dir=tmp_path / "run")
    err = capsys.readouterr().err
    throttled = sum(orjson.loads(x)["throttled_answers"]
                    for x in (tmp_path / "run" / "timeline.jsonl").read_bytes().splitlines())
    assert "errors=4" in err and f"429s={throttled}" in err and throttled > 0


def test_help_lists_exit_codes_and_environment() -> None:
    proc = cli("--help")
    for text in ("exit status:", "130", "CAPILLARY_USERNAME", "BULKUPDATE_<SETTING>"):
        assert text in proc.stdout, text
    assert "exit status:" in cli("run", "--help").stdout


def lost_then_answered_seed(p: float) -> int:
    """A simulator seed whose first request is lost after applying and whose second
    is answered: the fault draw is one seeded uniform per request."""
    for seed in range(1000):
        rng = random.Random(seed)
        if rng.random() < p <= rng.random():
            return seed
    raise AssertionError("no seed")  # pragma: no cover


def test_relink_cancel_answered_2027_after_a_lost_attempt_is_already_and_noted(
        tmp_path: Path) -> None:
    seed = lost_then_answered_seed(0.5)
    with simulator(p_lost=0.5, seed=seed) as sim:
        world = sim.world
        i = next(i for i in range(5000) if world.link(i, "SPP_1")[1])
        src = tmp_path / "in.jsonl"
        src.write_bytes(orjson.dumps({"customer": {"id": 100000 + i}, "partnerProgramUpdates": [
            {"partnerProgramName": "SPP_1", "updateType": "MEMBERSHIP_RELINKING_CANCELLED"}]})
            + b"\n")
        # settle is never less than timeout: a short one keeps the retry quick.
        run(src, fast_settings(sim.base_url, max_attempts=3, timeout=2.0), run_dir=tmp_path / "run")
        assert not world.link(i, "SPP_1")[1]   # the lost first attempt did cancel it
    result = results(tmp_path / "run")[1]
    program = result["programs"][0]
    assert result["uncertain"] and result["attempts"] == 2
    assert program["code"] == 2027 and program["likely_applied"]
    assert result["outcome"] == "already"
    assert "cancelled by the lost attempt or before this run" in program["message"]
    assert "by the lost attempt or before this run" in render(tmp_path / "run", "html")
