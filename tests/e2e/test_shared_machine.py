"""A shared machine: one owner per run directory, private files, and a crash
that still leaves a finished, resumable session — with the real CLI and simulator."""

from __future__ import annotations

import os
import resource
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from bulkupdate.simulator import SimConfig, generate_sample, write_sample
from tests.helpers import cli, cli_env, cli_popen, results, simulator, wait_for_results

WORLD = SimConfig(customers=20_000)


def records_in(path: Path) -> set[int]:
    return {n for n, raw in enumerate(path.read_bytes().split(b"\n"), 1) if raw.strip()}


def sent_lines(run_dir: Path) -> list[int]:
    return [n for raw in (run_dir / "sent.jsonl").read_bytes().splitlines()
            for n in orjson.loads(raw).get("lines", [])]


def test_second_owner_is_refused_naming_the_holder_and_kill_9_frees_it(tmp_path: Path) -> None:
    src, run_dir = tmp_path / "in.jsonl", tmp_path / "run"
    write_sample(src, WORLD, 400, bad_fraction=0.0)
    with simulator(latency_ms=50) as sim:
        # About 200 requests at 10/s: twenty seconds of a live owner, killed early.
        owner = cli_popen("run", str(src), "--base-url", sim.base_url, "--rate", "10/s",
                          "--batch-size", "2", "--concurrency", "2", "--run-dir", str(run_dir))
        wait_for_results(run_dir, 6, owner)
        for args in (["resume", str(run_dir)], ["resume", str(run_dir), "--rate", "500/s"]):
            second = cli(*args, "--base-url", sim.base_url)
            assert second.returncode == 2, second.stderr
            assert second.stderr.count("\n") == 1 and "Traceback" not in second.stderr
            assert f"in use by pid {owner.pid} on host {socket.gethostname()}" in second.stderr
        rerun = cli("run", str(src), "--base-url", sim.base_url, "--run-dir", str(run_dir))
        assert rerun.returncode == 2 and f"in progress: pid {owner.pid}" in rerun.stderr
        report = cli("report", str(run_dir))
        assert report.returncode == 0, report.stderr
        assert f"in progress: pid {owner.pid}" in report.stdout
        assert "resume" not in report.stdout and "reported so far" in report.stdout
        assert owner.poll() is None, "the owner finished before the test was done with it"
        owner.send_signal(signal.SIGKILL)
        owner.communicate()
        # Nothing sent twice while two processes were about: one journal entry per
        # line, and the server saw no more requests than the owner journaled.
        journaled = sent_lines(run_dir)
        assert len(journaled) == len(set(journaled))
        requests = sum(1 for raw in (run_dir / "sent.jsonl").read_bytes().splitlines()
                       if b'"req"' in raw)
        assert sim.stats()["requests"] <= requests
        # The kernel dropped the lock with the process: resume owns it at once.
        assert "not finished" in cli("report", str(run_dir)).stdout
        again = cli("resume", str(run_dir), "--base-url", sim.base_url, "--rate", "500/s",
                    "--concurrency", "16", "--batch-size", "50")
        assert again.returncode in (0, 1), again.stderr
    assert set(results(run_dir)) == records_in(src)
    assert (run_dir / "lock").read_bytes() == b""


def modes(run_dir: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in run_dir.iterdir()}


def test_run_directory_is_private_whatever_the_umask(tmp_path: Path) -> None:
    src, run_dir = tmp_path / "in.jsonl", tmp_path / "runs" / "r"
    write_sample(src, WORLD, 50)
    old = os.umask(0o022)
    try:
        with simulator(p_503=0.5) as sim:
            proc = subprocess.run(
                [sys.executable, "-m", "bulkupdate", "run", "-", "--base-url", sim.base_url,
                 "--rate", "500/s", "--max-attempts", "1", "--run-dir", str(run_dir)],
                input=src.read_bytes(), capture_output=True, env=cli_env(), timeout=60)
            assert proc.returncode == 1, proc.stderr
            assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
            files = modes(run_dir)
            assert {"manifest.json", "results.jsonl", "sent.jsonl", "retry.jsonl",
                    "summary.json", "events.jsonl", "input.jsonl", "lock"} <= set(files)
            assert set(files.values()) == {0o600}, files
            # A run directory from before (0755, 0644 files) is made private on resume.
            run_dir.chmod(0o755)
            (run_dir / "results.jsonl").chmod(0o644)
            assert cli("resume", str(run_dir), "--base-url", sim.base_url,
                       "--max-attempts", "1").returncode == 1
            assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
            assert set(modes(run_dir).values()) == {0o600}
    finally:
        os.umask(old)


def _small_files(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_crash_mid_run_still_finishes_the_session_and_resume_completes(
        tmp_path: Path) -> None:
    """A disk that refuses writes (RLIMIT_FSIZE: the results file cannot grow)
    is an unexpected exception in the middle of a run."""
    src, run_dir = tmp_path / "in.jsonl", tmp_path / "run"
    write_sample(src, WORLD, 1500)
    expected = {i: e for i, (_, e) in enumerate(generate_sample(WORLD, 1500), 1)}
    with simulator() as sim:
        proc = subprocess.run(
            [sys.executable, "-m", "bulkupdate", "run", str(src), "--base-url", sim.base_url,
             "--rate", "1000/s", "--run-dir", str(run_dir)], capture_output=True, text=True,
            env=cli_env(), timeout=60, preexec_fn=lambda: _small_files(60_000))
        assert proc.returncode == 3, proc.stderr
        assert "Traceback" not in proc.stderr + proc.stdout
        assert "internal error" in proc.stderr and "events.jsonl" in proc.stderr
        manifest = orjson.loads((run_dir / "manifest.json").read_bytes())
        assert manifest["sessions"][0]["ended_at"] and manifest["sessions"][0]["exit_code"] == 3
        assert (run_dir / "summary.json").exists()
        crash = [orjson.loads(raw) for raw in (run_dir / "events.jsonl").read_bytes().splitlines()
                 if b"run.crashed" in raw]
        assert crash and "Traceback" in crash[0]["traceback"]
        again = cli("resume", str(run_dir), "--base-url", sim.base_url, "--rate", "1000/s")
        assert again.returncode == 1, again.stderr
    got = results(run_dir)
    assert set(got) == {n for n, e in expected.items() if e["outcome"] != "blank"}


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_credentials_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    creds = tmp_path / "creds.toml"
    creds.write_text('username = "u"\npassword = "p"\n')
    creds.chmod(mode)
    (tmp_path / "c.toml").write_text('credentials_file = "creds.toml"\n')
    (tmp_path / "in.jsonl").write_text("{}\n")
    env = {k: v for k, v in cli_env().items() if not k.startswith("CAPILLARY_")}
    proc = cli("run", str(tmp_path / "in.jsonl"), "--config", str(tmp_path / "c.toml"),
               "--base-url", "http://127.0.0.1:9", env=env)
    assert proc.returncode == 2
    assert f"(mode {mode:04o}): run 'chmod 600 {creds}'" in proc.stderr
