"""The real things users have in front of the API: nginx as a TLS gateway (its
own timeouts, a private CA) and squid as the corporate proxy."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest

from bulkupdate import run
from tests.e2e.gateways import (
    FORBIDDEN_PORT,
    Tls,
    log_lines,
    make_tls,
    nginx_gateway,
    squid_proxy,
)
from tests.helpers import (
    PROGRAM,
    cli,
    cli_env,
    fast_settings,
    linked,
    results,
    simulator,
    tier_updates,
    world_for,
)

TLS_HINT = "certificate not trusted: set SSL_CERT_FILE or `ca_bundle`"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def proxy() -> Iterator[tuple[str, Path]]:
    with squid_proxy() as running:
        yield running


@pytest.fixture
def src(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    tier_updates(path, linked(40, world_for()), per_customer=2)
    return path


def test_https_through_a_tls_gateway_trusts_the_ca_bundle(tmp_path: Path, tls: Tls,
                                                           src: Path) -> None:
    with simulator() as sim, nginx_gateway(sim.base_url, tls, tmp_path) as (url, log):
        outcome = run(src, fast_settings(url, ca_bundle=str(tls.ca)), run_dir=tmp_path / "run")
    assert outcome.exit_code == 0
    assert len(results(tmp_path / "run")) == 80
    assert any(" 200" in line for line in log_lines(log))


def test_an_untrusted_certificate_stops_the_run_saying_what_to_fix(
        tmp_path: Path, tls: Tls, src: Path) -> None:
    with simulator() as sim, nginx_gateway(sim.base_url, tls, tmp_path) as (url, _):
        proc = cli("run", str(src), "--base-url", url, "--run-dir", str(tmp_path / "run"))
        assert sim.stats()["requests"] == 0
    assert proc.returncode == 3
    assert TLS_HINT in proc.stderr
    assert "resume" in proc.stderr


def test_ssl_cert_file_is_honoured(tmp_path: Path, tls: Tls, src: Path) -> None:
    with simulator() as sim, nginx_gateway(sim.base_url, tls, tmp_path) as (url, _):
        proc = cli("run", str(src), "--base-url", url, "--run-dir", str(tmp_path / "run"),
                   env=cli_env(SSL_CERT_FILE=str(tls.ca)))
    assert proc.returncode == 0, proc.stderr


def test_the_corporate_proxy_case_https_proxy_and_a_private_ca(
        tmp_path: Path, tls: Tls, proxy: tuple[str, Path], src: Path) -> None:
    proxy_url, access = proxy
    before = len(log_lines(access))
    with simulator() as sim, nginx_gateway(sim.base_url, tls, tmp_path) as (url, _):
        env = cli_env(HTTPS_PROXY=proxy_url, SSL_CERT_FILE=str(tls.ca))
        proc = cli("run", str(src), "--base-url", url, "--run-dir", str(tmp_path / "run"),
                   env=env)
    assert proc.returncode == 0, proc.stderr
    tunnels = [line for line in log_lines(access)[before:] if "CONNECT" in line]
    assert tunnels and url.removeprefix("https://") in tunnels[0]


def test_a_proxy_that_refuses_the_tunnel_stops_the_run(
        tmp_path: Path, proxy: tuple[str, Path], src: Path) -> None:
    proc = cli("run", str(src), "--base-url", f"https://127.0.0.1:{FORBIDDEN_PORT}",
               "--run-dir", str(tmp_path / "run"), env=cli_env(HTTPS_PROXY=proxy[0]))
    assert proc.returncode == 3
    assert "the proxy refused the tunnel (HTTP 403)" in proc.stderr
    sent = (tmp_path / "run" / "sent.jsonl").read_bytes().count(b'"t"')
    assert 1 <= sent <= 8


def test_http_proxy_is_used_unless_no_proxy_names_the_host(
        tmp_path: Path, proxy: tuple[str, Path], src: Path) -> None:
    proxy_url, access = proxy
    with simulator() as sim:
        before = len(log_lines(access))
        proc = cli("run", str(src), "--base-url", sim.base_url, "--run-dir",
                   str(tmp_path / "r1"), env=cli_env(HTTP_PROXY=proxy_url))
        assert proc.returncode == 0, proc.stderr
        posts = [line for line in log_lines(access)[before:] if " POST " in line]
        assert posts and sim.base_url in posts[0]
        before = len(log_lines(access))
        proc = cli("run", str(src), "--base-url", sim.base_url, "--run-dir",
                   str(tmp_path / "r2"),
                   env=cli_env(HTTP_PROXY=proxy_url, NO_PROXY="localhost,127.0.0.1"))
        assert proc.returncode == 0, proc.stderr
        assert log_lines(access)[before:] == []


def test_a_real_gateway_timing_out_never_leaves_an_older_tier(tmp_path: Path,
                                                              tls: Tls) -> None:
    """nginx gives up on the API after 150 ms and answers 504; the API goes on
    and applies the request (40 to 180 ms). Every customer ends at its last
    update in input order; the API never sees one customer in two requests."""
    customers = linked(100, world_for())
    src = tmp_path / "in.jsonl"
    last = tier_updates(src, customers, per_customer=3)
    with simulator(latency_ms=110, jitter_ms=70) as sim, \
            nginx_gateway(sim.base_url, tls, tmp_path, read_timeout="150ms") as (url, log):
        settings = fast_settings(url, ca_bundle=str(tls.ca), settle=1.0, timeout=1.0,
                                 max_attempts=10, concurrency=4, batch_size=5)
        outcome = run(src, settings, run_dir=tmp_path / "run")
        stats = sim.stats()
        final = {i: sim.world.link(i, PROGRAM)[0] for i in customers}
    assert any(line.endswith(" 504") for line in log_lines(log))
    assert stats["overlap_violations"] == 0
    assert final == last
    assert outcome.exit_code == 0


# -- verify meets the network as a run does (one transport): a certificate that
# does not verify stops it at once, where it used to be retried as a hiccup.

@contextmanager
def tls_listener(cert: Path, key: Path) -> Iterator[tuple[str, list[int]]]:
    """A loopback TLS port with a certificate of a CA nobody trusts: yields its
    https URL and the count of handshakes tried (a list of one, updated)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    tried = [0]
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            tried[0] += 1
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass   # the client refused our certificate: as it should

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.getsockname()[1]}", tried
    finally:
        stop.set()
        thread.join(5)
        server.close()


def test_an_untrusted_certificate_stops_verify_saying_what_to_fix(tmp_path: Path) -> None:
    tls = make_tls(tmp_path)
    with simulator(customers=200, p_lost=1.0) as sim:
        source = tmp_path / "in.jsonl"
        source.write_bytes(b"".join(orjson.dumps({
            "customer": {"mobile": sim.world.directory.identity(i)["mobile"]},
            "partnerProgramUpdates": [{"partnerProgramName": "Apparel-Partner",
                                       "updateType": "RENEW", "updateDetails": {
                                           "updatedTierName": "Silver"}}]}) + b"\n"
            for i in range(10)))
        run_dir = tmp_path / "run"
        ran = cli("run", str(source), "--base-url", sim.base_url, "--run-dir", str(run_dir),
                  "--max-attempts", "1", "--rate", "1000/s")
        assert ran.returncode == 1, ran.stderr
    with tls_listener(tls.cert, tls.key) as (url, tried):
        checked = cli("verify", str(run_dir), "--base-url", url, "--rate", "1000/s",
                      "--concurrency", "1", "--max-attempts", "5")
    assert checked.returncode == 3, checked.stderr
    assert TLS_HINT in checked.stderr
    assert tried[0] == 1   # stopped at the first handshake: no retries, no other reads
    assert not (run_dir / "verify.jsonl").exists() or not (run_dir / "verify.jsonl").read_bytes()
