"""Stopping a run from outside it: the CLI's signals, or a host's own shutdown.

The library installs no signal handler; whoever owns the process decides what a
signal means and calls :meth:`Control.stop` (stop reading and sending, let the
requests in flight finish: the run ends resumable, exit 130) or
:meth:`Control.cut_short` (abandon them too). Both may be called from any thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Protocol


class Stoppable(Protocol):
    def stop(self) -> None: ...

    def cut_short(self) -> None: ...


class Control:
    def __init__(self) -> None:
        self._targets: list[Stoppable] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None
        self.started = False    # a run attached once: a signal now means "drain"
        self.stopping = False
        self.cut = False
        self.why = ""

    def attach(self, target: Stoppable) -> None:
        """Called by the run on its own loop; a stop that came earlier applies now."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._targets.append(target)
        self.started = True
        if self.stopping:
            target.stop()
        if self.cut:
            target.cut_short()

    def detach(self, target: Stoppable) -> None:
        if target in self._targets:
            self._targets.remove(target)

    def stop(self, why: str = "") -> None:
        """Stop sending; requests in flight finish (up to ``grace_period``)."""
        self.stopping, self.why = True, why or self.why
        self._each(lambda t: t.stop())

    def cut_short(self) -> None:
        """Abandon the requests in flight too (they stay in ``sent.jsonl``)."""
        self.stopping = self.cut = True
        self._each(lambda t: t.cut_short())

    def _each(self, action: Callable[[Stoppable], None]) -> None:
        def apply() -> None:
            for target in list(self._targets):
                action(target)

        if self._loop is None or threading.get_ident() == self._thread:
            apply()
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(apply)
