"""Real networks against the simulator's network dials: a gateway that times out
while the API goes on, redirects, a wrong base URL, absurd Retry-After, endless
answers, per-item "not now"."""

from __future__ import annotations

import itertools
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

from bulkupdate import Misconfigured, run
from bulkupdate.settings import Credentials
from bulkupdate.simulator import SimConfig
from tests.helpers import (
    PROGRAM,
    cli,
    cli_env,
    cli_popen,
    events_named,
    fast_settings,
    killed_with_a_request_in_flight,
    linked,
    results,
    simulator,
    tier_updates,
    wait_until,
    world_for,
)


def test_gateway_timeouts_never_leave_an_older_tier(tmp_path: Path) -> None:
    """The gateway answers 504 after 50 ms while the API applies the request at
    250 ms; drops and lost replies mixed in. Every customer ends at its last
    update in input order, the server never sees one customer in two requests at
    once, and nothing is retryable at the default --max-attempts."""
    customers = linked(100, world_for())
    src = tmp_path / "in.jsonl"
    last = tier_updates(src, customers, per_customer=3)
    dials = dict(p_gateway=0.08, gateway_s=0.05, gateway_apply_s=0.25, p_drop=0.01,
                 p_lost=0.01, latency_ms=2)
    with simulator(**dials) as sim:
        # A timeout long enough that a busy machine does not add its own unknowns.
        # Small batches: more requests, so more of them meet the gateway's timeout.
        outcome = run(src, fast_settings(sim.base_url, settle=1.0, timeout=1.0, batch_size=5),
                      run_dir=tmp_path / "run")
        stats = sim.stats()
        final = {i: sim.world.link(i, PROGRAM)[0] for i in customers}
    got = results(tmp_path / "run")
    assert stats["faults"]["p_gateway"] >= 2
    assert stats["overlap_violations"] == 0
    assert final == last
    assert not [r for r in got.values() if r["outcome"] == "retryable"]
    assert outcome.summary["complete"]


def test_nothing_for_a_customer_leaves_before_an_unknown_fate_settles(tmp_path: Path) -> None:
    """Measured on the client's send log: after a 500 (fate unknown), neither the
    record nor the customer's next update is sent before ``settle`` has passed
    since the ambiguous attempt went out."""
    src = tmp_path / "in.jsonl"
    tier_updates(src, [linked(1, world_for())[0]], per_customer=2)
    with simulator(p_500=1.0) as sim:
        outcome = run(src, fast_settings(sim.base_url, settle=0.3, timeout=0.3,
                                         max_attempts=2), run_dir=tmp_path / "run")
    sends = [orjson.loads(raw) for raw in (tmp_path / "run" / "sent.jsonl").read_bytes()
             .splitlines() if b'"t"' in raw]
    assert [s["lines"] for s in sends] == [[1], [1], [2], [2]]
    gaps = [b["t"] - a["t"] for a, b in itertools.pairwise(sends)]
    assert min(gaps) >= 0.3 - 0.002, gaps          # the log rounds to microseconds
    assert outcome.exit_code == 1
    assert all(r["uncertain"] for r in results(tmp_path / "run").values())


class Counter(BaseHTTPRequestHandler):
    """Any request at all, counted: the place a redirect points to."""

    hits: list[str] = []

    def _count(self) -> None:
        self.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_PUT = _count

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def elsewhere() -> Iterator[tuple[str, list[str]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Counter)
    hits: list[str] = []
    server.RequestHandlerClass = type("Hits", (Counter,), {"hits": hits})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("scheme", ["basic", "oauth"])
def test_a_redirect_sends_nothing_anywhere(tmp_path: Path, scheme: str) -> None:
    src = tmp_path / "in.jsonl"
    tier_updates(src, linked(60, world_for()), per_customer=1)
    with elsewhere() as (other, hits), simulator(redirect_to=other,
                                                 redirect_status=308) as sim:
        creds = (Credentials(client_key=sim_key(), client_secret="demo-secret")
                 if scheme == "oauth" else None)
        kw = {"credentials": creds} if creds else {}
        outcome = run(src, fast_settings(sim.base_url, **kw), run_dir=tmp_path / "run")
        redirects = sim.stats()["redirects"]
    assert outcome.exit_code == 3
    assert isinstance(outcome.abort, Misconfigured)
    assert "308" in outcome.reason and other in outcome.reason
    assert hits == []
    assert 1 <= redirects <= 8
    assert results(tmp_path / "run") == {}


def sim_key() -> str:
    return SimConfig().client_key


def test_redirect_and_wrong_base_url_are_one_line_messages_from_the_cli(
        tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    tier_updates(src, linked(5, world_for()), per_customer=1)
    with elsewhere() as (other, hits), simulator(redirect_to=other) as sim:
        proc = cli("run", str(src), "--base-url", sim.base_url, "--run-dir",
                   str(tmp_path / "r1"))
    assert proc.returncode == 3 and hits == []
    assert f"HTTP 307 redirect to '{other}/v2/" in proc.stderr
    with simulator() as sim:
        proc = cli("run", str(src), "--base-url", sim.base_url + "/v2", "--run-dir",
                   str(tmp_path / "r2"))
        assert sim.stats()["requests"] == 0    # nothing reached the real endpoint
    assert proc.returncode == 3
    assert "HTTP 404 from the update endpoint: check --base-url: the API root, e.g. " \
           "https://eu.api.capillarytech.com" in proc.stderr
    sent = (tmp_path / "r2" / "sent.jsonl").read_bytes().count(b'"t"')
    assert 1 <= sent <= 8


@pytest.mark.parametrize("after", ["999999999", "Fri, 01 Jan 2100 00:00:00 GMT"])
def test_an_absurd_retry_after_never_hangs_a_run(tmp_path: Path, after: str) -> None:
    src = tmp_path / "in.jsonl"
    tier_updates(src, linked(80, world_for()), per_customer=1)
    with simulator(p_503=1.0, retry_after=after) as sim:
        outcome = run(src, fast_settings(sim.base_url, backoff_cap=0.2), run_dir=tmp_path / "run")
    got = results(tmp_path / "run")
    assert outcome.exit_code == 1
    assert {r["outcome"] for r in got.values()} == {"retryable"}
    assert all(r["attempts"] == 1 and "beyond the retry budget" in r["error"]
               for r in got.values())


def test_sigterm_during_a_long_retry_after_pause_exits_130(tmp_path: Path) -> None:
    """Retry-After: 120 within backoff_cap, so every sender pauses for 120 s; a
    SIGTERM ends the pause and the run well before it would."""
    src = tmp_path / "in.jsonl"
    tier_updates(src, linked(200, world_for()), per_customer=1)
    config = tmp_path / "c.toml"
    config.write_text("backoff_cap = 300.0\nretry_budget = 900.0\n")
    run_dir = tmp_path / "run"
    with simulator(p_503=1.0, retry_after="120") as sim:
        proc = cli_popen("run", str(src), "--base-url", sim.base_url, "--config", str(config),
                         "--concurrency", "1", "--run-dir", str(run_dir))
        # The 503 is answered and its retry logged: every sender now waits out the pause.
        wait_until(lambda: events_named(run_dir / "events.jsonl", "batch.retry"),
                   what="the 503's retry", alive=proc)
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=60)   # far less than the 120 s pause
        finally:
            proc.kill()
        assert sim.stats()["requests"] == 1
    assert proc.returncode == 130, err
    assert "resume" in err


def test_an_endless_answer_is_broken_and_the_read_stops(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    tier_updates(src, linked(20, world_for()), per_customer=1)
    with simulator(endless_body=True) as sim:
        outcome = run(src, fast_settings(sim.base_url, max_response_bytes=256 * 1024,
                                         max_attempts=2, timeout=1), run_dir=tmp_path / "run")
        written = sim.stats()["endless_bytes"]
    got = results(tmp_path / "run")
    assert outcome.exit_code == 1
    assert all(r["outcome"] == "retryable" and "max_response_bytes" in r["error"]
               and r["uncertain"] for r in got.values())
    # Two attempts: what the server managed to write is the client's limit plus
    # what the sockets buffer, not the body's length (which is none).
    assert 0 < written < 2 * 24 * 1024 * 1024


RSS_PROBE = ("import resource, sys\nfrom bulkupdate.cli import main\ncode = main(sys.argv[1:])\n"
             "print('maxrss_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
             "file=sys.stderr)\nsys.exit(code)\n")


def test_a_huge_answer_leaves_peak_memory_bounded(tmp_path: Path) -> None:
    """The default limit (16 MiB) against an answer with no end: peak RSS of the
    client process stays far below what reading it whole would take."""
    import subprocess

    src = tmp_path / "in.jsonl"
    tier_updates(src, linked(50, world_for()), per_customer=1)
    with simulator(endless_body=True) as sim:
        proc = subprocess.run([sys.executable, "-c", RSS_PROBE, "run", str(src), "--base-url",
                               sim.base_url, "--max-attempts", "1", "--timeout", "30",
                               "--run-dir",
                               str(tmp_path / "run")], capture_output=True, text=True,
                              env=cli_env(), timeout=120)
        written = sim.stats()["endless_bytes"]
    assert proc.returncode == 1, proc.stderr
    rss_mb = int(proc.stderr.split("maxrss_kb")[1].split()[0]) / 1024
    assert rss_mb < 200, rss_mb
    assert 16 * 1024 * 1024 < written < 48 * 1024 * 1024


def test_not_now_items_are_retried_alone_and_end_ok(tmp_path: Path) -> None:
    customers = linked(150, world_for())
    src = tmp_path / "in.jsonl"
    last = tier_updates(src, customers, per_customer=2)
    with simulator(p_not_now=0.2) as sim:
        outcome = run(src, fast_settings(sim.base_url, max_attempts=15), run_dir=tmp_path / "run")
        final = {i: sim.world.link(i, PROGRAM)[0] for i in customers}
        stats = sim.stats()
    got = results(tmp_path / "run")
    assert outcome.exit_code == 0
    assert {r["outcome"] for r in got.values()} == {"ok"}
    retried = [r for r in got.values() if r["attempts"] > 1]
    assert retried and len(retried) < len(got) / 2     # only those the API deferred
    assert final == last and stats["overlap_violations"] == 0


def test_not_now_is_retryable_when_attempts_run_out(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    tier_updates(src, linked(10, world_for()), per_customer=1)
    with simulator(p_not_now=1.0) as sim:
        outcome = run(src, fast_settings(sim.base_url, max_attempts=3), run_dir=tmp_path / "run")
    got = results(tmp_path / "run")
    assert outcome.exit_code == 1
    assert all(r["outcome"] == "retryable" and r["attempts"] == 3 and
               ("2010" in r["error"] or "2001" in r["error"]) for r in got.values())
    assert not any(r.get("uncertain") for r in got.values())


def test_resume_holds_what_a_killed_session_left_in_flight(tmp_path: Path) -> None:
    """kill -9 while a request is with the API, resume at once: the request may
    still be applied, so its records wait ``settle`` (here the 2 s timeout) before
    they go again — the API never has one customer in two requests. (Answers take
    0.8 s: long enough to kill while one is in flight, and 1.2 s inside the
    timeout, so a busy machine does not add a timeout of its own.)"""
    with simulator(latency_ms=800) as sim:
        run_dir = killed_with_a_request_in_flight(tmp_path, sim)
        resumed = cli("resume", str(run_dir), "--timeout", "2")
        stats = sim.stats()
    assert resumed.returncode == 0, resumed.stderr
    sends = [orjson.loads(raw) for raw in (run_dir / "sent.jsonl").read_bytes().splitlines()
             if b'"t"' in raw]
    # Either session may carry the records in more than one request (a busy
    # machine can let the linger run out before all are read); what counts is
    # that the resume sends every record once, and none before it settled.
    killed = sends[0]["req"].split("-")[0]
    left_in_flight = {n: s["t"] for s in sends if s["req"].startswith(killed)
                      for n in s["lines"]}
    again = [s for s in sends if not s["req"].startswith(killed)]
    assert sorted(n for s in again for n in s["lines"]) == list(range(1, 21))
    assert all(s["t"] - left_in_flight[n] >= 2.0 - 0.002
               for s in again for n in s["lines"] if n in left_in_flight)
    assert left_in_flight
    assert stats["overlap_violations"] == 0
    assert {n for n, r in results(run_dir).items() if r.get("uncertain")} == set(left_in_flight)
