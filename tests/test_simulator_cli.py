"""``python -m bulkupdate.simulator`` as a real process: the listening line, signals."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[1]
LISTENING = re.compile(r"^simulator listening on (http://127\.0\.0\.1:(\d+))$")


def start(*argv: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.Popen([sys.executable, "-m", "bulkupdate.simulator", *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def first_line(process: subprocess.Popen[str], timeout: float = 30.0) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    assert ready, "the simulator printed nothing"
    return process.stdout.readline().rstrip("\n")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_prints_the_listening_line_serves_and_exits_0_on_a_signal(sig: signal.Signals) -> None:
    process = start("--port", "0", "--customers", "1000", "--latency-ms", "1")
    try:
        line = first_line(process)
        match = LISTENING.match(line)
        assert match, line
        assert int(match.group(2)) > 0
        with urllib.request.urlopen(match.group(1) + "/_sim/stats", timeout=10) as response:
            assert orjson.loads(response.read())["requests"] == 0
        process.send_signal(sig)
        stdout, stderr = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    # stdout: the one listening line; stderr: what a rehearsal needs, nothing else.
    assert stdout == ""
    assert stderr.startswith("simulate: accepts Basic") and \
        all(line.startswith("simulate: ") for line in stderr.splitlines())


def test_refuses_to_listen_beyond_loopback() -> None:
    process = start("--host", "0.0.0.0", "--port", "0")
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 2
    assert stdout == ""
    assert "loopback" in stderr


def test_a_bad_flag_is_a_usage_error() -> None:
    process = start("--p-503", "2")
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "probability" in stderr


def test_network_dials_are_flags() -> None:
    import argparse

    from bulkupdate.simulator import add_simulate_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_simulate_arguments(parser)
    config = config_from_args(parser.parse_args([
        "--p-gateway", "0.1", "--gateway-s", "0.2", "--gateway-apply-s", "0.5",
        "--p-not-now", "0.3", "--retry-after", "999999999", "--redirect-to",
        "http://127.0.0.1:9", "--redirect-status", "301", "--endless-body"]))
    assert (config.p_gateway, config.gateway_s, config.gateway_apply_s, config.p_not_now,
            config.retry_after, config.redirect_to, config.redirect_status,
            config.endless_body) == (0.1, 0.2, 0.5, 0.3, "999999999", "http://127.0.0.1:9",
                                     301, True)
