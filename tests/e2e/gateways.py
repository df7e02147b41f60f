"""What users have in front of the API, for real: nginx as a TLS-terminating
gateway (with a CA made for the test by the openssl CLI) and squid as the
corporate egress proxy. Each runs on loopback from a temporary config; a test
that needs one skips, saying which package is missing, where it is not installed
(``.ci/run`` installs both)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

FORBIDDEN_PORT = 1   # squid's policy refuses any tunnel to it


def need(program: str) -> str:
    path = shutil.which(program) or shutil.which(program, path="/usr/sbin:/sbin")
    if path is None:
        pytest.skip(f"{program} is not installed (Debian package {program}; .ci/run "
                    "installs it)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited {proc.returncode}: "
                               f"{log.read_text() if log.exists() else ''}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"not listening on {port} after 20 s")


@contextmanager
def running(args: list[str], port: int, log: Path) -> Iterator[None]:
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(port, proc, log)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass(frozen=True)
class Tls:
    ca: Path          # the test CA, PEM: what ca_bundle / SSL_CERT_FILE name
    cert: Path        # the server's certificate for IP 127.0.0.1, signed by it
    key: Path


def make_tls(directory: Path) -> Tls:
    openssl = need("openssl")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    d = directory

    def call(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True, cwd=d)

    call("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
         "-subj", "/CN=bulkupdate test CA", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    call("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                               "extendedKeyUsage=serverAuth\n")
    call("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")
    return Tls(d / "ca.pem", d / "server.pem", d / "server.key")


@contextmanager
def nginx_gateway(upstream: str, tls: Tls, directory: Path,
                  read_timeout: str = "60s") -> Iterator[tuple[str, Path]]:
    """nginx terminating TLS on a loopback port in front of ``upstream``; yields
    the https base URL and its access log (one line per request, status third
    from the end)."""
    nginx = need("nginx")
    port = free_port()
    d = directory
    user = "user root;\n" if os.geteuid() == 0 else ""
    temps = "".join(f"  {kind}_temp_path {d}/{kind};\n"
                    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (d / "nginx.conf").write_text(f"""{user}worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 512; }}
http {{
  log_format short '$request_method $request_uri $status';
  access_log {d}/access.log short;
{temps}  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {tls.cert};
    ssl_certificate_key {tls.key};
    location / {{
      proxy_pass {upstream};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_read_timeout {read_timeout};
    }}
  }}
}}
""")
    args = [nginx, "-c", str(d / "nginx.conf"), "-p", str(d), "-e", str(d / "error.log")]
    with running(args, port, d / "error.log"):
        yield f"https://127.0.0.1:{port}", d / "access.log"


@contextmanager
def squid_proxy() -> Iterator[tuple[str, Path]]:
    """squid on a loopback port, allowing everything from loopback; yields the
    proxy URL and its access log. Its own directory, world-writable: squid
    started as root writes its logs as its unprivileged user."""
    squid = need("squid")
    port = free_port()
    d = Path(tempfile.mkdtemp(prefix="bulkupdate-squid-"))
    d.chmod(0o777)
    try:
        (d / "squid.conf").write_text(f"""http_port 127.0.0.1:{port}
acl to_loopback dst 127.0.0.0/8
acl from_loopback src 127.0.0.0/8
acl forbidden port {FORBIDDEN_PORT}
http_access deny forbidden
http_access allow from_loopback to_loopback
http_access deny all
cache deny all
access_log stdio:{d}/access.log
cache_log {d}/cache.log
pid_filename {d}/squid.pid
coredump_dir {d}
netdb_filename none
pinger_enable off
shutdown_lifetime 0 seconds
""")
        with running([squid, "-N", "-f", str(d / "squid.conf")], port, d / "cache.log"):
            yield f"http://127.0.0.1:{port}", d / "access.log"
    finally:
        shutil.rmtree(d, ignore_errors=True)


def log_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []
