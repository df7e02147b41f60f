"""Shared fixtures: a real simulator on loopback, the CLI as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest

from bulkupdate.settings import Credentials, Settings
from bulkupdate.simulator import RunningSim, SimConfig, simulator_thread

USER, PASSWORD = "test-till", "s3cret-Pa55"
CREDS = Credentials(username=USER, password=PASSWORD)


@contextmanager
def simulator(**dials: Any) -> Iterator[RunningSim]:
    dials.setdefault("username", USER)
    dials.setdefault("password", PASSWORD)
    dials.setdefault("customers", 20_000)
    with simulator_thread(SimConfig(**dials)) as sim:
        yield sim


def fast_settings(url: str, **kw: Any) -> Settings:
    """Test mode: no rate cap worth mentioning, backoff in milliseconds, settle
    (after an answer of unknown fate) as short as the timeout."""
    base: dict[str, Any] = dict(base_url=url, rate=_rate("2000/s"), concurrency=8,
                                backoff_base=0.005, backoff_cap=0.05, linger=0.01,
                                progress=False, credentials=CREDS, settle=0.0)
    base.update(kw)
    return Settings(**base)


def _rate(text: str) -> Any:
    from bulkupdate.settings import parse_rate

    return parse_rate(text)


def results(run_dir: Path) -> dict[int, dict[str, Any]]:
    """results.jsonl by line; fails on a line reported twice or a torn line."""
    out: dict[int, dict[str, Any]] = {}
    data = (run_dir / "results.jsonl").read_bytes()
    assert not data or data.endswith(b"\n"), "torn last line"
    for raw in data.splitlines():
        result = orjson.loads(raw)
        assert result["line"] not in out, f"line {result['line']} reported twice"
        out[result["line"]] = result
    return out


def send_times(run_dir: Path) -> list[float]:
    """When the pacer let each request go, from the client's own send log."""
    return sorted(orjson.loads(raw)["t"]
                  for raw in (run_dir / "sent.jsonl").read_bytes().splitlines()
                  if b'"t"' in raw)


def max_in_window(times: list[float], window: float) -> int:
    """The most requests in any half-open window [a, a + window)."""
    best, first = 0, 0
    for last, t in enumerate(times):
        while times[first] <= t - window:
            first += 1
        best = max(best, last - first + 1)
    return best


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BULKUPDATE_", "CAPILLARY_"))}
    env.update(CAPILLARY_USERNAME=USER, CAPILLARY_PASSWORD=PASSWORD)
    # Settle after an unknown fate: never less than the timeout, so both short.
    env.update(BULKUPDATE_TIMEOUT="3", BULKUPDATE_SETTLE="0")
    env.update(extra)
    return env


def cli(*args: str, env: dict[str, str] | None = None, **kw: Any) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bulkupdate", *args], capture_output=True,
                          text=True, env=env or cli_env(), timeout=120, **kw)


def cli_popen(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bulkupdate", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env or cli_env(), text=True)


class SimProcess:
    """``bulkupdate simulate`` in its own process: no GIL shared with the client,
    so what it measures (arrival times) is what a real server would see."""

    def __init__(self, *flags: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bulkupdate", "simulate", "--port", "0",
             "--username", USER, "--password", PASSWORD, *flags],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert "listening on" in line, line + self.proc.stderr.read() if self.proc.stderr else ""
        self.base_url = line.split()[-1]

    def stats(self, window_s: float = 1.0) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.base_url}/_sim/stats?window_s={window_s}") as r:
            return orjson.loads(r.read())  # type: ignore[no-any-return]

    def close(self) -> None:
        self.proc.terminate()
        self.proc.communicate(timeout=10)


@contextmanager
def simulator_process(*flags: str) -> Iterator[SimProcess]:
    sim = SimProcess(*flags)
    try:
        yield sim
    finally:
        sim.close()


@pytest.fixture
def sim() -> Iterator[RunningSim]:
    with simulator() as running:
        yield running
