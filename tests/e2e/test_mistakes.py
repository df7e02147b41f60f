"""Mistakes a user makes before the night, each caught by the CLI before anything
is sent, with the fix in the message: what spreadsheets do to files, credentials,
strict settings, a wrong base URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.helpers import cli, cli_env, linked_spp_ids, results, simulator

HEADER = ("id", "mobile", "partnerProgramName", "updateType", "updatedTierName",
          "updatedTierExpiryDate")
EXPIRY = "2031-01-01T00:00:00Z"


def renew_lines(ids: list[int]) -> bytes:
    return b"".join(orjson.dumps({"customer": {"id": i}, "partnerProgramUpdates": [
        {"partnerProgramName": "SPP_1", "updateType": "RENEW",
         "updateDetails": {"updatedTierName": "Plus", "updatedTierExpiryDate": EXPIRY}}]})
        + b"\n" for i in ids)


def excel_csv(path: Path, ids: list[int], sep: str) -> None:
    """What Excel saves in a comma-decimal locale: ``sep`` between columns,
    Windows-1252 text, CRLF, and a long number in scientific notation."""
    rows = [HEADER, *((str(i), "", "SPP_1", "RENEW", "Plus", EXPIRY) for i in ids),
            ("", "9.19740000001E+11", "SPP_1", "RENEW", "Plus", EXPIRY),
            (str(ids[0]), "", "SPP_1", "RENEW", "Caf\u00e9 \u201cPlus\u201d", EXPIRY)]
    path.write_bytes("".join(sep.join(row) + "\r\n" for row in rows).encode("cp1252"))


@pytest.mark.parametrize("sep", [";", "\t"])
def test_an_excel_export_is_read_and_its_damage_named(tmp_path: Path, sim: Any,
                                                      sep: str) -> None:
    ids = linked_spp_ids(sim, 4)
    src = tmp_path / "excel.csv"
    excel_csv(src, ids, sep)
    # Windows-1252 (one line in seven not UTF-8): refused before the run starts.
    for command in ("validate", "run"):
        proc = cli(command, str(src), "--base-url", sim.base_url) if command == "run" else \
            cli(command, str(src))
        assert proc.returncode == 2, proc.stderr
        assert "not UTF-8 (the file looks like Windows-1252)" in proc.stderr
        assert "save it as UTF-8" in proc.stderr and "iconv -f WINDOWS-1252" in proc.stderr
    assert sim.stats()["items"] == 0
    # Saved as UTF-8, as told: each row's damage named, the rest sent.
    src.write_bytes(src.read_bytes().decode("cp1252").encode())
    proc = cli("validate", str(src))
    assert proc.returncode == 1, proc.stderr
    assert "6 records, 5 valid, 1 invalid" in proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("line 6: customer.mobile: in scientific notation") and \
        "format the column as text" in lines[0]
    proc = cli("run", str(src), "--run-dir", str(tmp_path / "run"), "--base-url", sim.base_url)
    assert proc.returncode == 1, proc.stderr
    got = results(tmp_path / "run")
    assert [got[n]["outcome"] for n in range(2, 6)] == ["ok"] * 4
    assert got[6]["field"] == "customer.mobile"
    assert sim.stats()["items"] == 5     # the invalid row was never sent


def test_a_json_array_exits_2_before_anything_is_sent(tmp_path: Path, sim: Any) -> None:
    ids = linked_spp_ids(sim, 3)
    src = tmp_path / "export.json"
    src.write_bytes(b"[\n" + renew_lines(ids).replace(b"}\n{", b"},\n{") + b"]\n")
    want = f"{src} is one JSON array; bulkupdate reads one object per line " \
           f"(jq -c '.[]' {src} > {tmp_path / 'export'}.jsonl)"
    proc = cli("validate", str(src))
    assert proc.returncode == 2 and want in proc.stderr and proc.stdout == ""
    proc = cli("run", str(src), "--run-dir", str(tmp_path / "run"), "--base-url", sim.base_url,
               "--log-format", "text")
    assert proc.returncode == 2 and want in proc.stderr
    proc = cli("run", "-", "--run-dir", str(tmp_path / "piped"), "--base-url", sim.base_url,
               "--log-format", "text", input=src.read_text())
    assert proc.returncode == 2 and "standard input is one JSON array" in proc.stderr
    assert sim.stats()["requests"] == 0
    assert not (tmp_path / "run").exists() and not (tmp_path / "piped").exists()


def test_a_misspelt_credential_variable_is_named(tmp_path: Path, sim: Any) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(renew_lines(linked_spp_ids(sim, 2)))
    env = cli_env()
    env["CAPILLARY_PASSWD"] = env.pop("CAPILLARY_PASSWORD")
    proc = cli("run", str(src), "--base-url", sim.base_url, "--run-dir", str(tmp_path / "run"),
               "--log-format", "text", env=env)
    assert proc.returncode == 2
    assert "CAPILLARY_PASSWD" in proc.stderr and "did you mean CAPILLARY_PASSWORD?" in proc.stderr
    assert "username is given but password is not: set CAPILLARY_PASSWORD" in proc.stderr
    assert env["CAPILLARY_PASSWD"] not in proc.stderr
    assert sim.stats()["requests"] == 0


def test_resume_of_a_finished_run_needs_no_credentials(tmp_path: Path, sim: Any) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(renew_lines(linked_spp_ids(sim, 3)))
    assert cli("run", str(src), "--run-dir", str(tmp_path / "run"),
               "--base-url", sim.base_url).returncode == 0
    env = {k: v for k, v in cli_env().items() if not k.startswith("CAPILLARY_")}
    proc = cli("resume", str(tmp_path / "run"), env=env)
    assert proc.returncode == 0, proc.stderr
    assert "nothing to do: all 3 records already have a result" in proc.stdout


def test_resume_help_does_not_call_base_url_required() -> None:
    proc = cli("resume", "--help")
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    assert "required" not in text.split("--base-url", 1)[1].split("--", 1)[0]
    assert "the run's own" in text


def test_a_quoted_number_in_the_config_file_exits_2(tmp_path: Path, sim: Any) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(renew_lines(linked_spp_ids(sim, 1)))
    config = tmp_path / "bulkupdate.toml"
    config.write_text(f'base_url = "{sim.base_url}"\nconcurrency = "8"\n')
    proc = cli("run", str(src), "--config", str(config), "--log-format", "text")
    assert proc.returncode == 2
    assert "concurrency = '8' is not valid: must be an integer from 1 to 1000, written " \
           "without quotes" in proc.stderr


def test_the_endpoint_path_as_base_url_exits_2_naming_the_root(tmp_path: Path,
                                                              sim: Any) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(renew_lines(linked_spp_ids(sim, 1)))
    url = sim.base_url + "/v2/partnerProgram/customerPartnerProgramUpdate"
    proc = cli("run", str(src), "--base-url", url, "--log-format", "text",
               "--run-dir", str(tmp_path / "run"))
    assert proc.returncode == 2
    assert f"give the API root, --base-url {sim.base_url}" in " ".join(proc.stderr.split())
    assert sim.stats()["requests"] == 0 and not (tmp_path / "run").exists()


def test_https_to_a_plain_http_port_says_so(tmp_path: Path) -> None:
    with simulator() as plain:
        src = tmp_path / "in.jsonl"
        src.write_bytes(renew_lines(linked_spp_ids(plain, 2)))
        url = plain.base_url.replace("http://", "https://")
        proc = cli("run", str(src), "--base-url", url, "--log-format", "text",
                   "--run-dir", str(tmp_path / "run"))
        assert plain.stats()["requests"] == 0
    assert proc.returncode == 3, proc.stderr
    assert "the server does not speak TLS on this port" in proc.stderr
