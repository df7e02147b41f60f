"""Watching a run while it goes: the tqdm bar on a terminal, the ``run.progress``
heartbeat off one, and ``timeline.jsonl`` — the small time series the HTML report
draws (one line per session every ``TIMELINE_EVERY`` seconds, so a night of
eight hours is under 6,000 lines).

:class:`Watch` holds one session's live figures. It reads the counters the
ledger keeps and the pipeline's public :meth:`~bulkupdate.engine.pipeline.Pipeline.snapshot`,
and adds what only the sender sees: each answer's HTTP status and latency
(the client's ``on_answer``, :meth:`Watch.answered`).

All three say how many customers are held (``held``: waiting out ``settle``
after an answer of unknown fate, or a backoff), so a stretch without results
explains itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from tqdm import tqdm

from ..base.logs import Logger
from ..capillary.answers import status_label
from ..capillary.outcomes import Outcome
from ..engine.flow import Snapshot
from ..rundir.private import open_file

if TYPE_CHECKING:
    from ..engine.pipeline import Pipeline
    from ..rundir import Ledger
    from ..settings import Settings

TIMELINE = "timeline.jsonl"
TIMELINE_EVERY = 5.0
BAR_EVERY = 1.0         # the bar's figures refresh this often, results or not
OUTCOMES = tuple(o.value for o in Outcome)
__all__ = ["OUTCOMES", "Watch", "progress_bar", "status_label"]


class Watch:
    def __init__(self, ledger: Ledger, total: int | None, session: int) -> None:
        self.ledger = ledger
        self.total = total
        self.session = session
        self.snapshot: Callable[[], Snapshot] = Snapshot   # the pipeline's, while it runs
        self.statuses: Counter[str] = Counter()
        self.exit_code: int | None = None
        self._latencies: list[float] = []      # since the last timeline point
        self._listeners: list[Callable[[str, float], None]] = []
        self._ticks: list[Callable[[], None]] = []     # called every BAR_EVERY seconds
        # (monotonic time, done, requests, 429s) at the last timeline point
        self._last_point = (time.monotonic(), self.done, 0, 0)

    def on_answer(self, listener: Callable[[str, float], None]) -> None:
        self._listeners.append(listener)

    def on_tick(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` every ``BAR_EVERY`` seconds while the pipeline runs:
        a quiet stretch (customers held, nothing final) still shows why."""
        self._ticks.append(listener)

    def answered(self, status: int | None, seconds: float) -> None:
        label = status_label(status)
        self.statuses[label] += 1
        self._latencies.append(seconds)
        for listener in self._listeners:
            listener(label, seconds)

    # -- figures -------------------------------------------------------------

    @property
    def done(self) -> int:
        return self.ledger.done.count

    @property
    def records_total(self) -> int | None:
        if self.total is None:
            return self.snapshot().input_records
        return self.total

    @property
    def uncertain(self) -> int:
        return self.ledger.results.uncertain

    @property
    def errors(self) -> int:
        outcomes = self.ledger.results.outcomes   # already, unchanged: done, not errors
        return (self.done - outcomes.get("ok", 0) - outcomes.get("already", 0)
                - outcomes.get("unchanged", 0))

    @property
    def throttled(self) -> int:
        return self.statuses.get("429", 0)

    @property
    def share(self) -> float:
        return self.snapshot().throttle_share

    @property
    def pending(self) -> int:
        return self.snapshot().pending

    @property
    def held(self) -> int:
        """Customers held now (settle or backoff): their next send waits."""
        return self.snapshot().held

    def counts(self) -> dict[str, int]:
        outcomes = self.ledger.results.outcomes
        return {name: outcomes.get(name, 0) for name in OUTCOMES}

    def progress(self, pace: float) -> dict[str, Any]:
        """The fields of a ``run.progress`` event; ``pace`` in records per second."""
        total = self.records_total
        left = None if total is None else max(0, total - self.done)
        now = self.snapshot()
        return {"done": self.done, "total": total, **self.counts(),
                "uncertain": self.uncertain, "held": now.held,
                "requests": now.requests,
                "throttled_answers": self.throttled,
                "results_per_s": round(pace, 1),
                "throttle_pace_ratio": round(now.throttle_share, 3),
                "eta_s": round(left / pace) if left is not None and pace > 0 else None}

    def take_latencies(self) -> list[float]:
        out, self._latencies = self._latencies, []
        return out

    # -- the session's background tasks ---------------------------------------

    @contextlib.asynccontextmanager
    async def running(self, pipeline: Pipeline, settings: Settings, log: Logger | None
                      ) -> AsyncIterator[None]:
        """The timeline while ``pipeline`` runs; with ``log``, the heartbeat too."""
        self.snapshot = pipeline.snapshot
        tasks = [asyncio.create_task(self._timeline(self.ledger.dir / TIMELINE))]
        if log is not None:
            tasks.append(asyncio.create_task(heartbeat(log, "run.progress", settings.progress_every,
                                                        lambda: self.done, self.progress)))
        if self._ticks:
            tasks.append(asyncio.create_task(self._ticking()))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._timeline_point(self.ledger.dir / TIMELINE, *self._last_point)

    async def _ticking(self) -> None:
        while True:
            await asyncio.sleep(BAR_EVERY)
            for tick in self._ticks:
                tick()

    async def _timeline(self, path: Path) -> None:
        while True:
            await asyncio.sleep(TIMELINE_EVERY)
            self._timeline_point(path, *self._last_point)

    def _timeline_point(self, path: Path, since: float, done_before: int,
                        requests_before: int, throttled_before: int) -> None:
        """Append what happened since the last point: small, and written off the
        hot path (every few seconds), so the report needs no pass over sent.jsonl."""
        now = time.monotonic()
        figures = self.snapshot()
        requests = figures.requests
        lat = sorted(self.take_latencies())
        point = {"t": round(time.time(), 3), "dt": round(now - since, 3),
                 "session": self.session, "done": self.done,
                 "results": self.done - done_before, "requests": requests - requests_before,
                 "throttled_answers": self.throttled - throttled_before,
                 "throttle_pace_ratio": round(figures.throttle_share, 3),
                 "pending": figures.pending,
                 "held": figures.held,
                 "latency_p50": round(statistics.median(lat), 4) if lat else None,
                 "latency_p95": round(lat[int(0.95 * (len(lat) - 1))], 4) if lat else None}
        with open_file(path, "ab") as fh:   # 0600, no symbolic link followed
            fh.write(orjson.dumps(point) + b"\n")
        self._last_point = (now, self.done, requests, self.throttled)


async def heartbeat(log: Logger, event: str, every: float, done: Callable[[], int],
                    figures: Callable[[float], dict[str, Any]]) -> None:
    """``event`` every ``every`` seconds, off a terminal: ``figures`` of the pace
    since the last one (results per second) — a run's ``run.progress``, a
    verify's ``verify.progress``."""
    last_t, last_done = time.monotonic(), done()
    while True:
        await asyncio.sleep(every)
        now, count = time.monotonic(), done()
        log.info(event, **figures((count - last_done) / (now - last_t)))
        last_t, last_done = now, count


class _Bar:
    """tqdm, with the errors and 429s so far after the count, and the customers
    held now while there are any."""

    def __init__(self, bar: Any, watch: Watch) -> None:
        self._bar = bar
        self._watch = watch
        watch.on_tick(self.tick)

    def _postfix(self) -> str:
        w = self._watch
        held = f" held={w.held}" if w.held else ""
        return f"errors={w.errors} 429s={w.throttled}{held}"

    def update(self, n: int) -> None:
        self._bar.set_postfix_str(self._postfix(), refresh=False)
        self._bar.update(n)

    def tick(self) -> None:
        """Redraw with the figures of now, though no result came."""
        self._bar.set_postfix_str(self._postfix(), refresh=True)

    def close(self) -> None:
        self._bar.close()


class _NoBar:
    """The bar when none is shown: a tqdm, even disabled, starts a monitor thread
    in the caller's process."""

    disable = True

    def update(self, n: int = 1) -> None:
        pass

    def set_description(self, desc: str) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(total: int | None, show: bool, *, initial: int = 0,
                 watch: Watch | None = None) -> Any:
    if not show:
        return _NoBar()
    bar = tqdm(total=total, initial=initial, unit=" records",
               unit_scale=True, dynamic_ncols=True, smoothing=0.1, file=sys.stderr,
               desc="results")
    return _Bar(bar, watch) if watch is not None else bar
