"""control: stopping a run from outside it, from the loop's thread or any other."""

from __future__ import annotations

import threading

from bulkupdate.night.control import Control
from tests.helpers import wait_until_async


class Target:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.threads: list[int] = []

    def stop(self) -> None:
        self.calls.append("stop")
        self.threads.append(threading.get_ident())

    def cut_short(self) -> None:
        self.calls.append("cut")


async def test_a_stop_before_the_run_attached_applies_when_it_does() -> None:
    control, target = Control(), Target()
    control.stop("SIGTERM")
    assert not control.started
    control.attach(target)
    assert control.started and target.calls == ["stop"] and control.why == "SIGTERM"


async def test_a_stop_from_another_thread_runs_on_the_loop() -> None:
    control, target = Control(), Target()
    control.attach(target)
    thread = threading.Thread(target=control.stop)
    thread.start()
    thread.join()
    await wait_until_async(lambda: target.calls, what="the stop on the loop")
    assert target.calls == ["stop"] and target.threads == [threading.get_ident()]


async def test_cut_short_after_detach_reaches_nobody() -> None:
    control, target = Control(), Target()
    control.attach(target)
    control.cut_short()
    control.detach(target)
    control.cut_short()
    assert target.calls == ["cut"]
