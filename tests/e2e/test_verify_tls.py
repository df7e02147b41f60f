"""`bulkupdate verify` meets the network as a run does (one transport): a
certificate that does not verify stops it at once, saying what to fix, where it
used to be retried as a hiccup until every read had failed."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson

from tests.e2e.gateways import make_tls
from tests.helpers import cli, simulator

TLS_HINT = "certificate not trusted: set SSL_CERT_FILE or `ca_bundle`"


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
