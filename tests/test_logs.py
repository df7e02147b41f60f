"""logs: one logger per run, its own file, stdlib forwarding, no global configuration."""

from __future__ import annotations

import logging
from pathlib import Path

import orjson
import pytest
import structlog

from bulkupdate.base.logs import RunLog, mask_pii, null_logger


def read(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(raw) for raw in path.read_bytes().splitlines()]


def test_two_run_logs_write_only_to_their_own_files(tmp_path: Path) -> None:
    a, b = RunLog(tmp_path / "a.jsonl"), RunLog(tmp_path / "b.jsonl")
    a.log.info("batch.retry", run="a")
    b.log.warning("batch.retry", run="b")
    a.close()
    b.log.info("run.finished", run="b")
    b.close()
    assert [e["run"] for e in read(tmp_path / "a.jsonl")] == ["a"]
    assert [e["run"] for e in read(tmp_path / "b.jsonl")] == ["b", "b"]
    assert read(tmp_path / "b.jsonl")[0]["level"] == "warning"


def test_the_level_filters_and_pii_is_masked(tmp_path: Path) -> None:
    run_log = RunLog(tmp_path / "e.jsonl", level="info")
    run_log.log.debug("batch.sent", mobile="919740001234")
    run_log.log.info("probe", mobile="919740001234", customer={"email": "al@example.com"})
    run_log.close()
    [event] = read(tmp_path / "e.jsonl")
    assert event["mobile"] == "********1234"
    assert event["customer"] == {"email": "a***@example.com"}


def test_events_reach_the_stdlib_logger_with_their_fields(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    run_log = RunLog(tmp_path / "e.jsonl")
    with caplog.at_level(logging.INFO, logger="bulkupdate"):
        run_log.log.warning("throttle.cut", share=0.7)
    run_log.close()
    [record] = caplog.records
    assert record.levelno == logging.WARNING and "throttle.cut share=0.7" in record.message
    assert record.bulkupdate["share"] == 0.7  # type: ignore[attr-defined]
    assert record.run_dir == str(tmp_path)  # type: ignore[attr-defined]


def test_the_global_structlog_configuration_is_not_used_or_changed(tmp_path: Path) -> None:
    before = structlog.get_config()
    run_log = RunLog(tmp_path / "e.jsonl")
    run_log.log.info("probe")
    run_log.close()
    null_logger().error("nothing")
    assert structlog.get_config() == before
    assert len(read(tmp_path / "e.jsonl")) == 1


def test_mask_pii_reaches_into_lists() -> None:
    assert mask_pii([{"mobile": "12345678"}]) == [{"mobile": "****5678"}]
