"""What the CLI, as the owner of its process, turns on around a run — uvloop, GC
tuning, SIGINT/SIGTERM handling, warnings rendered on stderr — and restores
afterwards. The library itself turns on none of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TextIO, TypeVar

from ..base.logs import LEVELS, STDLIB_NAME, render_event
from ..night.control import Control

T = TypeVar("T")


def run_as_owner(main: Callable[[Control], Coroutine[Any, Any, T]], *,
                 echo_level: str = "warning", fmt: str = "text") -> T:
    """``main(control)`` on a fresh (uvloop, when installed) loop, with the
    process tuned for a long run and the signals wired to ``control``."""
    control = Control()
    with (tuned_gc(), stderr_rendering(echo_level, fmt=fmt),
          asyncio.Runner(loop_factory=_uvloop_factory()) as runner):
        return runner.run(_with_signals(control, main(control)))


def _uvloop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


@contextlib.contextmanager
def tuned_gc() -> Iterator[None]:
    # Every record allocates a few short-lived dicts; with the default threshold
    # the collector runs every 700 allocations and rescans the window each time.
    # Long-lived start-up objects are frozen out of its sight altogether; the
    # older generations still run often enough that cyclic garbage (aiohttp leaves
    # some per request) cannot pile up over a run of millions.
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 10, 10)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def sameness(method: str, event: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two events "the same warning again": level, name and fields,
    not when (``timestamp``) nor how long (a field ending in ``_s``)."""
    return (method, *sorted((k, str(v)) for k, v in event.items()
                            if k != "timestamp" and not k.endswith("_s")))


class _TerminalHandler(logging.Handler):
    """Events as one line on stderr, through tqdm so a progress bar is not torn:
    the short text form, or (``json``) the events.jsonl line itself. In text, the
    same event again in a row (19 ``throttle.cut`` alike) is written once, then
    counted: people read it; a collector (``json``) gets every one."""

    def __init__(self, stream: TextIO, fmt: str = "text") -> None:
        super().__init__()
        self._stream = stream
        self._fmt = fmt
        self._last: tuple[Any, ...] | None = None
        self._again = 0                 # the last event, repeated since it was written
        self._last_line = ""

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "bulkupdate", None)
        method = record.levelname.lower()
        if self._fmt == "text" and event is not None:
            key = sameness(method, event)
            if key == self._last:
                self._again += 1
                return
            self.flush_repeats()
            self._last = key
        line = (render_event(self._fmt, method, event) if event is not None
                else record.getMessage())
        self._last_line = line
        self._write(line)

    def flush_repeats(self) -> None:
        """Say how often the last event came again in a row, if it did."""
        if self._again:
            head = self._last_line.split(" ", 2)
            self._write(f"{' '.join(head[:2])} (the same {self._again} more "
                        f"time{'s' if self._again != 1 else ''} in a row)")
        self._again = 0
        self._last = None

    def _write(self, line: str) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(line, file=self._stream)
        except ImportError:  # pragma: no cover - tqdm is a dependency
            print(line, file=self._stream)


@contextlib.contextmanager
def stderr_rendering(level: str = "warning", stream: TextIO | None = None,
                     fmt: str = "text") -> Iterator[None]:
    logger = logging.getLogger(STDLIB_NAME)
    handler = _TerminalHandler(stream or sys.stderr, fmt)
    handler.setLevel(LEVELS[level])
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > LEVELS[level]:
        logger.setLevel(LEVELS[level])
    logger.propagate = False   # shown once, here; not again by logging's last resort
    try:
        yield
    finally:
        handler.flush_repeats()
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


async def _with_signals(control: Control, main: Coroutine[Any, Any, T]) -> T:
    """First SIGINT/SIGTERM: drain (exit 130); a second one cuts the drain short.
    Before the run has started (standard input still being saved) a signal
    simply cancels: nothing was sent, so nothing needs draining."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()

    def handle(signum: int) -> None:
        if not control.started:
            if task is not None:
                task.cancel()
        elif not control.stopping:
            control.stop(signal.Signals(signum).name)
        else:
            control.cut_short()

    saved: dict[signal.Signals, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            previous = signal.getsignal(sig)
            loop.add_signal_handler(sig, handle, sig)
            saved[sig] = previous
    try:
        return await main
    finally:
        for restored, previous in saved.items():
            loop.remove_signal_handler(restored)
            with contextlib.suppress(TypeError, ValueError):
                signal.signal(restored, previous)
