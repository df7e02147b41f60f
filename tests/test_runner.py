"""runner pieces: run directories claimed once, a run's own settings, exit codes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from bulkupdate.base.logs import null_logger
from bulkupdate.errors import LedgerError, UsageError
from bulkupdate.night.runner import _exit_code, claim_run_dir, own_settings
from bulkupdate.results import Summary
from bulkupdate.settings import Settings


def test_a_claimed_run_directory_is_never_handed_out_twice(tmp_path: Path) -> None:
    wanted = tmp_path / "runs" / "20261126T000000Z-records"
    got = [claim_run_dir(wanted) for _ in range(3)]
    assert [p.name for p in got] == [wanted.name, wanted.name + "-2", wanted.name + "-3"]
    assert all(p.is_dir() for p in got)


def test_own_settings_come_from_the_manifest_and_credentials_from_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    saved = Settings(base_url="http://127.0.0.1:8123", rate="7/s", concurrency=3).public()
    (tmp_path / "manifest.json").write_bytes(orjson.dumps({
        "run_id": "r", "input": "in.jsonl", "input_fingerprint": {"size": 0, "sha256": ""},
        "settings": saved, "started_at": "2026-11-26T00:00:00Z", "sessions": []}))
    monkeypatch.setenv("CAPILLARY_CLIENT_KEY", "k")
    monkeypatch.setenv("CAPILLARY_CLIENT_SECRET", "s")
    monkeypatch.setenv("BULKUPDATE_CONCURRENCY", "99")   # the run's own win here
    settings = own_settings(tmp_path)
    assert settings.base_url == "http://127.0.0.1:8123" and str(settings.rate) == "7/s"
    assert settings.concurrency == 3 and settings.credentials.scheme == "oauth"


def test_no_credentials_is_a_usage_error_before_anything_exists(tmp_path: Path) -> None:
    from bulkupdate import run

    with pytest.raises(UsageError, match="no credentials"):
        run([{"customer": {"id": 1}}], Settings(base_url="http://127.0.0.1:9"),
            run_dir=tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_exit_codes() -> None:
    """The runner asks exitcode.exit_code_of, the one place that decides."""
    summary = Summary("r", "in.jsonl", 2, 2, True, {"ok": 2}, {})
    settings = Settings(base_url="http://127.0.0.1:9")
    closed = {"aborted": False, "interrupted": False}
    assert _exit_code(summary, null_logger(), settings, **closed) == 0
    one_ok = replace(summary, outcomes={"ok": 1, "rejected": 1})
    assert _exit_code(one_ok, null_logger(), settings, **closed) == 1
    assert _exit_code(replace(summary, complete=False), null_logger(), settings, **closed) == 1
    assert _exit_code(summary, null_logger(), settings, aborted=False, interrupted=True) == 130
    forgiving = Settings(base_url="http://127.0.0.1:9", allow_failures="1")  # type: ignore[arg-type]
    assert _exit_code(one_ok, null_logger(), forgiving, **closed) == 0


def test_a_run_refused_its_directory_leaves_no_connection_to_the_store(
        tmp_path: Path) -> None:
    import os

    from bulkupdate import run
    from tests.helpers import CREDS

    source = tmp_path / "in.jsonl"
    source.write_bytes(orjson.dumps({"customer": {"id": 100001}, "partnerProgramUpdates": [
        {"partnerProgramName": "P", "updateType": "RENEW",
         "updateDetails": {"updatedTierName": "Gold"}}]}) + b"\n")
    busy = tmp_path / "run"
    busy.mkdir()
    (busy / "manifest.json").write_bytes(b"{}")      # a directory that holds a run
    state = tmp_path / "state.db"
    settings = Settings(base_url="http://127.0.0.1:9", credentials=CREDS, state=str(state))

    def open_to_store() -> list[str]:
        fds = Path("/proc/self/fd")
        return [str(link) for link in (os.readlink(fd) for fd in fds.iterdir()
                                       if fd.is_symlink()) if link.startswith(str(state))]

    with pytest.raises(LedgerError) as refused:
        run(source, settings, run_dir=busy)
    assert "already holds a run" in str(refused.value)
    assert open_to_store() == []          # the error (and its frames) kept, the store closed
