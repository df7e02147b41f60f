"""Hiccups of the machinery around the API, not of the API itself: a token
service that answers 503 now and then, a run directory whose disk fills up."""

from __future__ import annotations

import errno
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest

from bulkupdate.simulator import World
from bulkupdate.simulator.config import SimConfig
from tests.helpers import cli, cli_env, results, simulator, wait_until

KEY, SECRET = "k-1", "oauth-SECRET"


def ok_file(path: Path, count: int) -> list[int]:
    """``count`` renewals of customers linked to SPP_1, one per customer: each
    one ``ok``, and applied once if sent once. Returns the customer ids."""
    world = World(SimConfig(customers=20_000))
    ids = [100_000 + i for i in range(20_000) if world.link(i, "SPP_1")[0] is not None][:count]
    path.write_bytes(b"".join(orjson.dumps({
        "ref": f"r{n}", "customer": {"id": cid}, "partnerProgramUpdates": [{
            "partnerProgramName": "SPP_1", "updateType": "RENEW",
            "updateDetails": {"updatedTierName": "Plus",
                              "updatedTierExpiryDate": "2031-01-01T00:00:00Z"}}]}) + b"\n"
        for n, cid in enumerate(ids)))
    return ids


def oauth_env(**extra: str) -> dict[str, str]:
    env = cli_env(CAPILLARY_CLIENT_KEY=KEY, CAPILLARY_CLIENT_SECRET=SECRET, **extra)
    del env["CAPILLARY_USERNAME"], env["CAPILLARY_PASSWORD"]
    return env


def test_a_night_through_token_503s_ends_ok(tmp_path: Path) -> None:
    ok_file(tmp_path / "in.jsonl", 400)
    # Tokens live 2 s; every one (renewals included) comes after two 503s with
    # Retry-After: 1, honoured up to backoff_cap (0.2 s here): a renewal takes a
    # while, sometimes longer than the token it replaces lives.
    env = oauth_env(BULKUPDATE_BACKOFF_CAP="0.2")
    with simulator(client_key=KEY, client_secret=SECRET, token_ttl=2, token_503=2) as sim:
        proc = cli("run", str(tmp_path / "in.jsonl"), "--base-url", sim.base_url,
                   "--rate", "20/s", "--batch-size", "4", "--run-dir", str(tmp_path / "r"),
                   env=env)
        stats = sim.stats()
    assert proc.returncode == 0, proc.stderr
    got = results(tmp_path / "r")
    assert len(got) == 400 and {r["outcome"] for r in got.values()} == {"ok"}
    assert stats["token_503s"] >= 4 and stats["auth_failures"] == 0   # renewed, retried
    events = (tmp_path / "r" / "events.jsonl").read_text()
    assert events.count('"event":"auth.retry"') == stats["token_503s"]
    assert SECRET not in events


def test_a_refused_token_is_still_fatal_at_once(tmp_path: Path) -> None:
    ok_file(tmp_path / "in.jsonl", 20)
    with simulator(client_key=KEY, client_secret="another") as sim:
        proc = cli("run", str(tmp_path / "in.jsonl"), "--base-url", sim.base_url,
                   "--run-dir", str(tmp_path / "r"), env=oauth_env())
        stats = sim.stats()
    assert proc.returncode == 3, proc.stderr
    assert "HTTP 401" in proc.stderr
    assert stats["token_requests"] == 1 and stats["requests"] == 0


@contextmanager
def small_disk(where: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs at ``where``; the test is skipped where mounting is not allowed."""
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs",
                              str(where)], capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip("a full disk needs a small tmpfs, and mounting one is not permitted "
                    f"here ({mounted.stderr.strip() or 'mount failed'})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path) -> Path:
    """Take every free byte of ``disk``."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as fh:
        chunk = b"\0" * 65536
        while True:
            try:
                fh.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                if len(chunk) == 1:
                    return filler
                chunk = chunk[:len(chunk) // 2]


def wait_for(check: Callable[[], bool], what: str, proc: subprocess.Popen[str]) -> None:
    wait_until(check, what=what, alive=proc)


def start(tmp_path: Path, sim_url: str, run_dir: Path, *flags: str) -> tuple[
        subprocess.Popen[str], Path]:
    stderr = tmp_path / "stderr.txt"
    with stderr.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bulkupdate", "run", str(tmp_path / "in.jsonl"),
             "--base-url", sim_url, "--rate", "25/s", "--batch-size", "5",
             "--run-dir", str(run_dir), *flags],
            stdout=subprocess.DEVNULL, stderr=err, env=cli_env(), text=True)
    return proc, stderr


def test_a_disk_that_fills_mid_run_is_waited_out_and_nothing_is_sent_twice(
        tmp_path: Path) -> None:
    ok_file(tmp_path / "in.jsonl", 500)
    with small_disk(tmp_path / "disk") as disk, simulator() as sim:
        run_dir = disk / "r"
        proc, stderr = start(tmp_path, sim.base_url, run_dir)
        try:
            results_file = run_dir / "results.jsonl"
            wait_for(lambda: results_file.exists() and results_file.stat().st_size > 0,
                     "a first result", proc)
            filler = fill(disk)
            wait_for(lambda: "disk.full" in stderr.read_text(), "disk.full", proc)
            filler.unlink()
            wait_for(lambda: "disk.ok" in stderr.read_text(), "disk.ok", proc)
            proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        got = results(run_dir)
        applied = dict(sim.world.applied)
    assert proc.returncode == 0, stderr.read_text()
    assert len(got) == 500 and {r["outcome"] for r in got.values()} == {"ok"}
    assert not any(r.get("uncertain") for r in got.values())
    assert len(applied) == 500 and all(len(u) == 1 for u in applied.values())


def test_a_disk_that_stays_full_stops_the_run_with_what_to_do(tmp_path: Path) -> None:
    ok_file(tmp_path / "in.jsonl", 300)
    with small_disk(tmp_path / "disk") as disk, simulator() as sim:
        run_dir = disk / "r"
        proc, stderr = start(tmp_path, sim.base_url, run_dir, "--disk-wait", "1")
        try:
            results_file = run_dir / "results.jsonl"
            wait_for(lambda: results_file.exists() and results_file.stat().st_size > 0,
                     "a first result", proc)
            filler = fill(disk)
            proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        text = stderr.read_text()
        assert proc.returncode == 3, text
        assert f"no space left on device for {run_dir}: free space, then bulkupdate resume" \
            in text
        assert "internal error" not in text and "traceback" not in text
        filler.unlink()
        again = cli("resume", str(run_dir))
        got = results(run_dir)
    assert again.returncode == 0, again.stderr
    assert len(got) == 300 and {r["outcome"] for r in got.values()} == {"ok"}
