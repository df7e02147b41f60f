"""bulkupdate as a library inside someone else's process: `arun` from any source,
several runs at once, and nothing process-wide changed."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import threading
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
import structlog

import bulkupdate
from bulkupdate import Control, Outcome, RecordResult, UsageError, aresume, arun, run
from bulkupdate.simulator import SimConfig, World, generate_sample, write_sample
from tests.helpers import (
    PASSWORD,
    USER,
    assert_matches,
    expected,
    fast_settings,
    results,
    simulator,
)

CONFIG = SimConfig(customers=20_000)


def events(run_dir: Path) -> list[dict[str, Any]]:
    return [orjson.loads(raw) for raw in (run_dir / "events.jsonl").read_bytes().splitlines()]


def sample_dicts(n: int, seed: int) -> tuple[list[dict[str, Any]], dict[int, dict[str, Any]]]:
    """The sample's records that are JSON objects, with their expected outcomes
    renumbered by position in the list (a list has no blank lines)."""
    records, exp = [], {}
    for raw, want in generate_sample(CONFIG, n, seed=seed):
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        if isinstance(data, dict):
            records.append(data)
            exp[len(records)] = want
    return records, exp


async def sample_bytes(n: int, seed: int) -> AsyncIterator[bytes]:
    for raw, _ in generate_sample(CONFIG, n, seed=seed):
        await asyncio.sleep(0)
        yield raw


def check_on_result(run_dir: Path, seen: list[RecordResult]) -> None:
    """Once per result, in ledger order, each the same as its results.jsonl line."""
    ledger = [orjson.loads(raw) for raw in (run_dir / "results.jsonl").read_bytes().splitlines()]
    assert [r.line for r in seen] == [r["line"] for r in ledger]
    for got, line in zip(seen, ledger, strict=True):
        assert got.outcome is Outcome(line["outcome"]) and got.ref == line.get("ref")
        assert got.attempts == line["attempts"] and got.field == line.get("field")
        assert [p.code for p in got.programs] == [p["code"] for p in line.get("programs", [])]


async def test_three_runs_at_once_in_one_loop_each_exact(tmp_path: Path) -> None:
    path = tmp_path / "file.jsonl"
    write_sample(path, CONFIG, 500, seed=1)
    dicts, want_dicts = sample_dicts(500, seed=2)
    seen: dict[str, list[RecordResult]] = {"file": [], "dicts": [], "gen": []}
    with simulator() as a, simulator() as b, simulator() as c:
        done = await asyncio.gather(
            arun(path, fast_settings(a.base_url), run_dir=tmp_path / "file",
                 on_result=seen["file"].append),
            arun(dicts, fast_settings(b.base_url), run_dir=tmp_path / "dicts",
                 on_result=seen["dicts"].append),
            arun(sample_bytes(500, seed=3), fast_settings(c.base_url), run_dir=tmp_path / "gen",
                 on_result=seen["gen"].append))
        sent = [sim.stats()["items"] for sim in (a, b, c)]
    assert [r.exit_code for r in done] == [1, 1, 1]
    assert_matches(tmp_path / "file", expected(CONFIG, 500))
    assert_matches(tmp_path / "dicts", want_dicts)
    assert_matches(tmp_path / "gen", {i: w for i, (_, w) in
                                      enumerate(generate_sample(CONFIG, 500, seed=3), 1)})
    for name, result in zip(seen, done, strict=True):
        assert result.summary.complete and result.summary.results == len(seen[name])
        check_on_result(tmp_path / name, seen[name])
        own = events(tmp_path / name)
        assert [e["event"] for e in own].count("run.started") == 1, name
        finished = next(e for e in own if e["event"] == "run.finished")
        assert finished["ok"] == result.summary.count(Outcome.OK)
    assert all(sent), "each simulator got its own run's requests"
    assert (tmp_path / "gen" / "input.jsonl").is_file()


def test_the_host_process_is_left_as_it_was(tmp_path: Path, good_file: Path) -> None:
    host_events: list[dict[str, Any]] = []

    def capture(_: Any, __: str, event: dict[str, Any]) -> str:
        host_events.append(dict(event))
        raise structlog.DropEvent

    def on_term(*_: Any) -> None:  # pragma: no cover - never delivered
        pass

    structlog.configure(processors=[capture])
    config_before = structlog.get_config()
    thresholds = gc.get_threshold()
    gc.set_threshold(1234, 11, 12)
    previous_term = signal.signal(signal.SIGTERM, on_term)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    host_log = logging.getLogger("bulkupdate")
    host_log.addHandler(handler)
    host_log.setLevel(logging.INFO)   # the host chooses what it hears
    try:
        with simulator() as sim:
            result = run(good_file, fast_settings(sim.base_url), run_dir=tmp_path / "r")
        structlog.get_logger().info("host.event")
        assert result.exit_code == 0
        assert structlog.get_config() == config_before
        assert [e["event"] for e in host_events] == ["host.event"]
        assert gc.get_threshold() == (1234, 11, 12) and gc.get_freeze_count() == 0
        assert signal.getsignal(signal.SIGTERM) is on_term
        finished = [r for r in records if r.bulkupdate["event"] == "run.finished"]  # type: ignore[attr-defined]
        assert len(finished) == 1 and finished[0].run_dir == str(tmp_path / "r")  # type: ignore[attr-defined]
    finally:
        host_log.removeHandler(handler)
        host_log.setLevel(logging.NOTSET)
        signal.signal(signal.SIGTERM, previous_term)
        gc.set_threshold(*thresholds)
        structlog.reset_defaults()


def test_runs_in_two_threads_log_to_their_own_files(tmp_path: Path, good_file: Path) -> None:
    out: dict[str, Any] = {}
    with simulator() as sim:
        def go(name: str, **kw: Any) -> None:
            out[name] = run(good_file, fast_settings(sim.base_url, **kw), run_dir=tmp_path / name)

        bad = bulkupdate.Credentials(username=USER, password="wrong")
        threads = [threading.Thread(target=go, args=("good",)),
                   threading.Thread(target=go, args=("bad",), kwargs={"credentials": bad})]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert out["good"].exit_code == 0 and out["bad"].exit_code == 3
    assert isinstance(out["bad"].abort, bulkupdate.AuthFailed)
    good, bad_events = events(tmp_path / "good"), events(tmp_path / "bad")
    assert "run.aborted" in [e["event"] for e in bad_events]
    assert "run.aborted" not in [e["event"] for e in good]
    assert [e["event"] for e in good].count("run.started") == 1
    assert [e["event"] for e in bad_events].count("run.started") == 1


async def test_run_inside_a_loop_raises_before_creating_anything(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = fast_settings("http://127.0.0.1:9")
    for run_dir in (None, tmp_path / "r"):
        with pytest.raises(UsageError, match=r"await bulkupdate\.arun"):
            run([{"customer": {"id": 1}}], settings, run_dir=run_dir)
    with pytest.raises(UsageError, match=r"await bulkupdate\.aresume"):
        bulkupdate.resume(tmp_path / "r")
    assert not any(tmp_path.iterdir())  # noqa: ASYNC240 - a check, not work


async def test_aresume_of_a_finished_run_sends_nothing(
        tmp_path: Path, good_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAPILLARY_USERNAME", USER)
    monkeypatch.setenv("CAPILLARY_PASSWORD", PASSWORD)
    with simulator() as sim:
        first = await arun(good_file, fast_settings(sim.base_url), run_dir=tmp_path / "r")
        before = sim.stats()["requests"]
        seen: list[RecordResult] = []
        again = await aresume(tmp_path / "r", on_result=seen.append)   # the run's own settings
        assert sim.stats()["requests"] == before
    assert first.exit_code == again.exit_code == 0 and seen == []
    assert again.summary.results == first.summary.results


async def test_a_stopped_generator_run_resumes_to_exact_results(tmp_path: Path) -> None:
    control = Control()
    seen: list[RecordResult] = []

    def stop_early(result: RecordResult) -> None:
        seen.append(result)
        control.stop("test")

    with simulator() as sim:
        settings = fast_settings(sim.base_url, concurrency=1, batch_size=5)
        first = await arun(sample_bytes(300, seed=4), settings, run_dir=tmp_path / "r",
                           on_result=stop_early, control=control)
        assert first.exit_code == 130 and 0 < len(seen) < 300
        second = await aresume(tmp_path / "r", settings, on_result=seen.append)
    assert second.exit_code == 1
    assert_matches(tmp_path / "r", {i: w for i, (_, w) in
                                    enumerate(generate_sample(CONFIG, 300, seed=4), 1)})
    assert sorted(r.line for r in seen) == sorted(results(tmp_path / "r"))


async def test_an_on_result_that_raises_stops_the_run_resumably(tmp_path: Path) -> None:
    def fail(result: RecordResult) -> None:
        raise ValueError("host bug")

    with simulator() as sim:
        settings = fast_settings(sim.base_url, batch_size=5)
        with pytest.raises(ValueError, match="host bug"):
            await arun(sample_bytes(200, seed=5), settings, run_dir=tmp_path / "r", on_result=fail)
        again = await aresume(tmp_path / "r", settings)
    assert again.exit_code == 1
    assert_matches(tmp_path / "r", {i: w for i, (_, w) in
                                    enumerate(generate_sample(CONFIG, 200, seed=5), 1)})


def test_settings_take_strings_where_a_user_writes_them() -> None:
    settings = bulkupdate.Settings(base_url="https://eu.api.capillarytech.com", rate="100/min")
    assert settings.rate == bulkupdate.Rate(100, 60.0)
    with pytest.raises(UsageError, match="concurrency"):
        bulkupdate.Settings(concurrency="8")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="rate"):
        bulkupdate.Settings(rate="fast")


@pytest.mark.parametrize("source", [b'{"customer": {}}', {"customer": {"id": 1}}, 42])
def test_a_source_that_is_not_one_is_refused_before_anything_exists(
        tmp_path: Path, source: Any) -> None:
    with pytest.raises(UsageError, match="source"):
        run(source, fast_settings("http://127.0.0.1:9"), run_dir=tmp_path / "r")
    assert not (tmp_path / "r").exists()


@pytest.fixture
def good_file(tmp_path: Path) -> Path:
    """60 records the simulator's world (the default config) accepts."""
    world = World(replace(CONFIG, username=USER, password=PASSWORD))
    ids = [100_000 + i for i in range(5000) if world.link(i, "SPP_1")[0] is not None][:60]
    path = tmp_path / "good.jsonl"
    path.write_bytes(b"".join(orjson.dumps({"customer": {"id": cid}, "partnerProgramUpdates": [{
        "partnerProgramName": "SPP_1", "updateType": "RENEW",
        "updateDetails": {"updatedTierName": "Plus",
                          "updatedTierExpiryDate": "2031-01-01T00:00:00Z"}}]}) + b"\n"
        for cid in ids))
    return path



def test_the_cli_interrupted_while_saving_stdin_exits_130_at_once(tmp_path: Path) -> None:
    """Before the run starts nothing was sent, so a signal needs no drain; the
    thread still blocked on the pipe must not hang or abort the exit."""
    import subprocess
    import sys

    from tests.helpers import cli_env, wait_until

    proc = subprocess.Popen(
        [sys.executable, "-m", "bulkupdate", "run", "-", "--base-url", "http://127.0.0.1:9",
         "--run-dir", str(tmp_path / "r")], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, env=cli_env())
    assert proc.stdin is not None
    proc.stdin.write(b'{"customer": {"id": 1}}\n')
    proc.stdin.flush()
    wait_until((tmp_path / "r" / "input.jsonl").exists, what="saving standard input",
               alive=proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert b"Fatal" not in err and b"Traceback" not in err
