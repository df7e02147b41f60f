"""`bulkupdate run` against the real simulator: every line, every code, every exit."""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from bulkupdate import run
from bulkupdate.simulator import SimConfig, write_sample
from tests.helpers import (
    PASSWORD,
    USER,
    assert_matches,
    cli,
    cli_env,
    expected,
    fast_settings,
    linked_spp_ids,
    results,
    simulator,
)


def test_mixed_file_gets_one_correct_result_per_line(tmp_path: Path) -> None:
    with simulator() as sim:
        config = SimConfig(customers=20_000)
        sample = tmp_path / "mixed.jsonl"
        counts = write_sample(sample, config, 4000)
        outcome = run(sample, fast_settings(sim.base_url), run_dir=tmp_path / "run")
        stats = sim.stats()
    assert outcome.exit_code == 1
    assert_matches(tmp_path / "run", expected(config, 4000))
    summary = orjson.loads((tmp_path / "run" / "summary.json").read_bytes())
    assert summary["complete"] and summary["input_records"] == 4000 - counts["blank"]
    for code in ("200", "2004", "2006", "2007", "2027", "2028", "8015"):
        assert summary["codes"].get(code), f"code {code} never exercised"
    assert stats["overlap_violations"] == 0
    assert (tmp_path / "run" / "retry.jsonl").read_bytes() == b""


def test_relinking_disabled_org_answers_2026(tmp_path: Path) -> None:
    with simulator(allow_relinking=False) as sim:
        line = {"customer": {"id": linked_spp_ids(sim, 1)[0]}, "partnerProgramUpdates": [
            {"partnerProgramName": "SPP_1", "updateType": "MEMBERSHIP_RELINKING_CANCELLED"}]}
        src = tmp_path / "in.jsonl"
        src.write_bytes(orjson.dumps(line) + b"\n")
        outcome = run(src, fast_settings(sim.base_url), run_dir=tmp_path / "run")
    result = results(tmp_path / "run")[1]
    assert outcome.exit_code == 1
    assert result["outcome"] == "rejected" and result["programs"][0]["code"] == 2026


def good_lines(n: int) -> bytes:
    out = []
    for i in range(n):
        out.append(orjson.dumps({"ref": f"r{i}", "customer": {"id": 100000 + i},
                                 "partnerProgramUpdates": [{
                                     "partnerProgramName": "SPP_1", "updateType": "RENEW",
                                     "updateDetails": {"updatedTierName": "Plus"}}]}))
    return b"\n".join(out) + b"\n"


@pytest.fixture
def good_file(tmp_path: Path, sim: Any) -> Path:
    path = tmp_path / "good.jsonl"
    lines = [orjson.dumps({"ref": f"r{n}", "customer": {"id": cid}, "partnerProgramUpdates": [{
        "partnerProgramName": "SPP_1", "updateType": "RENEW",
        "updateDetails": {"updatedTierName": "Plus",
                          "updatedTierExpiryDate": "2031-01-01T00:00:00Z"}}]})
        for n, cid in enumerate(linked_spp_ids(sim, 120))]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_cli_exit_0_when_every_record_is_ok(tmp_path: Path, sim: Any, good_file: Path) -> None:
    proc = cli("run", str(good_file), "--base-url", sim.base_url, "--rate", "500/s",
               "--run-dir", str(tmp_path / "r"))
    assert proc.returncode == 0, proc.stderr
    assert "120/120 records reported: 120 ok" in proc.stdout
    got = results(tmp_path / "r")
    assert sorted(got) == list(range(1, 121))
    assert got[5]["ref"] == "r4" and got[5]["outcome"] == "ok"
    report = cli("report", str(tmp_path / "r"))
    assert report.returncode == 0 and "ok" in report.stdout and "120 of 120" in report.stdout
    as_json = orjson.loads(cli("report", str(tmp_path / "r"), "--format", "json").stdout)
    assert as_json["outcomes"]["ok"] == 120 and as_json["exit_code"] == 0
    rows = cli("report", str(tmp_path / "r"), "--format", "csv").stdout.splitlines()
    assert rows[0].startswith("line,ref,outcome") and len(rows) == 121


@pytest.mark.parametrize(("args", "message"), [
    (["--batch-size", "51"], "--batch-size 51"),
    (["--rate", "fast"], "rate 'fast'"),
    (["--base-url", "http://api.example.com"], "https:// is required"),
    (["--concurrency", "0"], "concurrency"),
    (["--base-url", ""], "no base URL: pass --base-url"),
])
def test_cli_exit_2_on_bad_settings_before_sending(tmp_path: Path, good_file: Path,
                                                   args: list[str], message: str) -> None:
    proc = cli("run", str(good_file), "--run-dir", str(tmp_path / "r"),
               "--base-url", "http://127.0.0.1:9", *args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert not (tmp_path / "r").exists()


def test_cli_exit_2_without_credentials(tmp_path: Path, good_file: Path) -> None:
    env = cli_env()
    del env["CAPILLARY_USERNAME"], env["CAPILLARY_PASSWORD"]
    proc = cli("run", str(good_file), "--run-dir", str(tmp_path / "r"),
               "--base-url", "http://127.0.0.1:9", env=env)
    assert proc.returncode == 2 and "CAPILLARY_USERNAME" in proc.stderr


def test_cli_exit_2_on_missing_input(tmp_path: Path) -> None:
    proc = cli("run", str(tmp_path / "nope.jsonl"), "--base-url", "http://127.0.0.1:9")
    assert proc.returncode == 2 and "does not exist" in proc.stderr


def test_settings_from_config_file_and_environment(tmp_path: Path, sim: Any,
                                                   good_file: Path) -> None:
    creds = tmp_path / "creds.toml"
    creds.write_text(f'username = "{USER}"\npassword = "{PASSWORD}"\n')
    creds.chmod(0o600)
    config = tmp_path / "bulk.toml"
    config.write_text(f'base_url = "{sim.base_url}"\nrate = "300/s"\nbatch_size = 7\n'
                      'credentials_file = "creds.toml"\n')
    env = cli_env(BULKUPDATE_CONCURRENCY="3")
    del env["CAPILLARY_USERNAME"], env["CAPILLARY_PASSWORD"]
    proc = cli("run", str(good_file), "--config", str(config), "--batch-size", "9",
               "--run-dir", str(tmp_path / "r"), env=env)
    assert proc.returncode == 0, proc.stderr
    manifest = orjson.loads((tmp_path / "r" / "manifest.json").read_bytes())
    assert manifest["settings"]["batch_size"] == 9          # flag beats config
    assert manifest["settings"]["concurrency"] == 3         # environment beats default
    assert manifest["settings"]["rate"] == "300/s"          # config beats default
    assert manifest["settings"]["auth"] == "basic"


def test_validate_command_names_line_and_field(tmp_path: Path) -> None:
    config = SimConfig()
    path = tmp_path / "mixed.jsonl"
    counts = write_sample(path, config, 500)
    proc = cli("validate", str(path))
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    exp = expected(config, 500)
    named = 0
    for text in lines:
        number, field, rest = text.split(": ", 2)
        assert exp[int(number.removeprefix("line "))]["field"] == field
        # The same message on several lines is one line with its count.
        alike = re.search(r"\[([\d,]+) lines alike: ", rest)
        named += int(alike.group(1).replace(",", "")) if alike else 1
    assert named == counts["invalid"] and len(lines) < counts["invalid"]
    clean = tmp_path / "clean.jsonl"
    clean.write_bytes(good_lines(10))
    assert cli("validate", str(clean)).returncode == 0


def test_gzip_stdin_and_csv_inputs(tmp_path: Path, sim: Any, good_file: Path) -> None:
    data = good_file.read_bytes()
    gz = tmp_path / "good.jsonl.gz"
    gz.write_bytes(gzip.compress(data))
    url = ["--base-url", sim.base_url, "--rate", "500/s"]
    assert cli("run", str(gz), "--run-dir", str(tmp_path / "gz"), *url).returncode == 0
    proc = cli("run", "-", "--run-dir", str(tmp_path / "stdin"), *url, input=data.decode())
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "stdin" / "input.jsonl").read_bytes() == data
    csv_path = tmp_path / "good.csv"
    rows = ["ref,id,partnerProgramName,updateType,updatedTierName"]
    for n, raw in enumerate(data.splitlines()):
        rows.append(f"c{n},{orjson.loads(raw)['customer']['id']},SPP_1,RENEW,Plus")
    rows.append("c-bad,,SPP_1,RENEW,Plus")
    csv_path.write_text("\n".join(rows) + "\n")
    proc = cli("run", str(csv_path), "--run-dir", str(tmp_path / "csv"), *url)
    assert proc.returncode == 1, proc.stderr
    got = results(tmp_path / "csv")
    assert len(got) == 121 and got[2]["ref"] == "c0" and got[2]["outcome"] == "ok"
    assert got[122]["outcome"] == "invalid" and got[122]["field"] == "customer"


def test_server_batch_limit_below_ours_splits_and_goes_on(tmp_path: Path) -> None:
    config = SimConfig(customers=20_000)
    sample = tmp_path / "mixed.jsonl"
    write_sample(sample, config, 600)
    with simulator(max_batch=20, batch_error_code=1060) as sim:
        outcome = run(sample, fast_settings(sim.base_url), run_dir=tmp_path / "run")
        stats = sim.stats()
    assert outcome.summary["complete"]
    assert_matches(tmp_path / "run", expected(config, 600))
    assert stats["status_counts"].get("400", 0) >= 1


def test_secrets_never_reach_the_run_directory_or_output(tmp_path: Path, sim: Any,
                                                         good_file: Path) -> None:
    proc = cli("run", str(good_file), "--base-url", sim.base_url, "--rate", "500/s",
               "--run-dir", str(tmp_path / "r"), "--log-level", "debug")
    assert proc.returncode == 0
    from bulkupdate.capillary.auth import basic_header

    header = basic_header(USER, PASSWORD).split()[1]
    for path in (tmp_path / "r").iterdir():
        text = path.read_text()
        assert PASSWORD not in text and header not in text, path
    assert PASSWORD not in proc.stdout + proc.stderr


def test_pii_is_masked_in_logs(tmp_path: Path) -> None:
    from bulkupdate.base import logs
    run_log = logs.RunLog(tmp_path / "events.jsonl", level="debug")
    run_log.log.info("probe", mobile="919740001234", email="alice@example.com",
                     customer={"mobile": "919740009999"})
    run_log.close()
    event = orjson.loads((tmp_path / "events.jsonl").read_bytes())
    assert event["mobile"] == "********1234" and event["email"] == "a***@example.com"
    assert event["customer"]["mobile"].endswith("9999") and "97400" not in str(event)


def test_oauth_token_is_renewed_mid_run(tmp_path: Path) -> None:
    config = SimConfig(customers=20_000)
    sample = tmp_path / "mixed.jsonl"
    write_sample(sample, config, 3000)
    env = cli_env(CAPILLARY_CLIENT_KEY="k-1", CAPILLARY_CLIENT_SECRET="oauth-SECRET")
    del env["CAPILLARY_USERNAME"], env["CAPILLARY_PASSWORD"]
    # Tokens live 2 s and are renewed with 20% of that left: 0.4 s for a request
    # to reach the server, even on a busy machine; 15 requests/s make a 4 s run.
    with simulator(client_key="k-1", client_secret="oauth-SECRET", token_ttl=2) as sim:
        proc = cli("run", str(sample), "--base-url", sim.base_url, "--rate", "15/s",
                   "--run-dir", str(tmp_path / "r"), env=env)
        stats = sim.stats()
    assert proc.returncode == 1, proc.stderr
    assert_matches(tmp_path / "r", expected(config, 3000))
    assert stats["auth_failures"] == 0          # renewed before expiry, never refused
    events = (tmp_path / "r" / "events.jsonl").read_text()
    assert events.count('"event":"auth.token"') >= 2
    for path in (tmp_path / "r").iterdir():
        assert "oauth-SECRET" not in path.read_text()


def test_oauth_refused_again_after_renewal_is_fatal(tmp_path: Path, good_file: Path) -> None:
    env = cli_env(CAPILLARY_CLIENT_KEY="demo-key", CAPILLARY_CLIENT_SECRET="demo-secret")
    del env["CAPILLARY_USERNAME"], env["CAPILLARY_PASSWORD"]
    with simulator(fail_auth=True) as sim:
        proc = cli("run", str(good_file), "--base-url", sim.base_url, "--concurrency", "1",
                   "--rate", "100/s", "--run-dir", str(tmp_path / "r"), env=env)
        stats = sim.stats()
    assert proc.returncode == 3
    assert stats["requests"] == 2               # the first try and one after renewal
    assert not (tmp_path / "r" / "results.jsonl").read_bytes()


@pytest.mark.parametrize(("window", "batch", "concurrency"), [(7, 5, 1), (1, 1, 1), (60, 50, 3)])
def test_input_larger_than_the_window_flows_through(tmp_path: Path, window: int, batch: int,
                                                    concurrency: int) -> None:
    config = SimConfig(customers=20_000)
    sample = tmp_path / "mixed.jsonl"
    write_sample(sample, config, 400)
    with simulator(latency_ms=3) as sim:
        outcome = run(sample, fast_settings(sim.base_url, window=window, batch_size=batch,
                                            concurrency=concurrency), run_dir=tmp_path / "run")
        assert sim.stats()["max_in_flight"] <= concurrency
    assert outcome.summary["complete"]
    assert_matches(tmp_path / "run", expected(config, 400))


def test_report_piped_into_head_exits_quietly(tmp_path: Path, sim: Any) -> None:
    sample = tmp_path / "mixed.jsonl"
    write_sample(sample, SimConfig(customers=20_000), 3000)   # a report larger than a pipe
    assert cli("run", str(sample), "--base-url", sim.base_url, "--rate", "1000/s",
               "--run-dir", str(tmp_path / "r")).returncode == 1
    import subprocess
    import sys

    proc = subprocess.run(f"{sys.executable} -m bulkupdate report {tmp_path / 'r'} "
                          "--format csv | head -1", shell=True, capture_output=True, text=True,
                          env=cli_env(), timeout=60)
    assert proc.stdout.startswith("line,ref,outcome")
    assert "Traceback" not in proc.stderr


def test_csv_row_with_invalid_utf8_is_an_invalid_record(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(b"ref,id,partnerProgramName,updateType,updatedTierName\n"
                     b"a,100001,SPP_1,RENEW,Plus\n"
                     b"b,100002,SPP_\xff1,RENEW,Plus\n"
                     b"c,100003,SPP_1,RENEW,Plus\n")
    proc = cli("validate", str(path))
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [proc.stdout.splitlines()[0]]
    assert proc.stdout.startswith("line 3: utf-8: invalid UTF-8")
    assert "3 records, 2 valid, 1 invalid" in proc.stderr
