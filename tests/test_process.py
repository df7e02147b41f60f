"""process: what the CLI turns on for its own process, each thing put back after."""

from __future__ import annotations

import gc
import io
import logging
import signal
from typing import Any

from bulkupdate.base.logs import RunLog
from bulkupdate.cli.process import run_as_owner, stderr_rendering, tuned_gc
from bulkupdate.night.control import Control
from tests.helpers import wait_until_async


def test_gc_tuning_is_undone() -> None:
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    with tuned_gc():
        assert gc.get_threshold() == (50_000, 10, 10)
    assert gc.get_threshold() == before and gc.get_freeze_count() == frozen


def test_warnings_are_rendered_and_the_logger_is_put_back(tmp_path: Any) -> None:
    logger = logging.getLogger("bulkupdate")
    before = (logger.level, logger.propagate, list(logger.handlers))
    out = io.StringIO()
    run_log = RunLog(tmp_path / "e.jsonl")
    with stderr_rendering("warning", out):
        run_log.log.info("batch.sent")
        run_log.log.warning("run.stopping", signal="SIGTERM")
    run_log.close()
    assert out.getvalue() == "warning: run.stopping signal=SIGTERM\n"
    assert (logger.level, logger.propagate, list(logger.handlers)) == before


def test_signals_go_to_the_control_and_the_old_handlers_come_back() -> None:
    def host_handler(*_: Any) -> None:  # pragma: no cover - never delivered
        pass

    class Target:
        stopped = 0

        def stop(self) -> None:
            self.stopped += 1

        def cut_short(self) -> None:
            pass

    target = Target()

    async def main(control: Control) -> int:
        control.attach(target)
        signal.raise_signal(signal.SIGTERM)
        await wait_until_async(lambda: target.stopped, what="the stop")
        return target.stopped

    previous = signal.signal(signal.SIGTERM, host_handler)
    try:
        assert run_as_owner(main) == 1
        assert signal.getsignal(signal.SIGTERM) is host_handler
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_the_same_warning_in_a_row_is_written_once_then_counted() -> None:
    from bulkupdate.base.logs import STDLIB_NAME

    out = io.StringIO()
    logger = logging.getLogger(STDLIB_NAME)

    def warn(name: str, **fields: object) -> None:
        event = {"event": name, **fields, "level": "warning", "timestamp": "t"}
        logger.warning("%s", name, extra={"bulkupdate": event, "run_dir": ""})

    with stderr_rendering("warning", stream=out):
        for n in range(19):   # alike but for when and how long
            warn("throttle.cut", pace="3.6/s", learned="230/min", pause_s=n / 10)
        warn("batch.retry", status=503)
        warn("throttle.cut", pace="3.6/s", learned="230/min", pause_s=1.0)
        warn("throttle.cut", pace="3.6/s", learned="230/min", pause_s=1.0)
    lines = out.getvalue().splitlines()
    assert lines == [
        "warning: throttle.cut pace=3.6/s learned=230/min pause_s=0.0",
        "warning: throttle.cut (the same 18 more times in a row)",
        "warning: batch.retry status=503",
        "warning: throttle.cut pace=3.6/s learned=230/min pause_s=1.0",
        "warning: throttle.cut (the same 1 more time in a row)"]
