"""Watching a verify while it reads: the tqdm bar on a terminal, the
``verify.progress`` heartbeat off one (every ``--progress-every`` seconds, like
a run's ``run.progress``), and the Prometheus series of
:mod:`bulkupdate.verify.metrics` (``--metrics-port``/``--metrics-file``).

The figures are the driver's own: verdicts so far (``verify.jsonl``, this
verify and the ones before), requests by HTTP status (this verify).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

from ..base.logs import Logger
from ..capillary.answers import status_label
from ..night.progress import heartbeat, progress_bar
from ..settings import Settings


class VerifyWatch:
    """One verify's live figures, and the bar, heartbeat and metrics that show them."""

    def __init__(self, total: int, counts: Callable[[], dict[str, int]]) -> None:
        self.total = total                       # records chosen
        self.counts = counts                     # verdict → records, so far
        self.statuses: Counter[str] = Counter()  # this verify's requests by status
        self.exit_code: int | None = None
        self._bar: Any = None

    @property
    def done(self) -> int:
        return sum(self.counts().values())

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    def answered(self, status: int | None) -> None:
        self.statuses[status_label(status)] += 1

    def judged(self) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def progress(self, pace: float) -> dict[str, Any]:
        """The fields of a ``verify.progress`` event; ``pace`` in verdicts per second."""
        left = max(0, self.total - self.done)
        return {"done": self.done, "total": self.total, **self.counts(),
                "requests": self.requests, "throttled_answers": self.statuses.get("429", 0),
                "verdicts_per_s": round(pace, 1),
                "eta_s": round(left / pace) if pace > 0 else None}

    @contextlib.asynccontextmanager
    async def running(self, settings: Settings, log: Logger) -> AsyncIterator[None]:
        """The bar (on a terminal, or ``--progress``) or else the heartbeat, and the
        metrics when asked for, while the reads go."""
        show = sys.stderr.isatty() if settings.progress is None else settings.progress
        self._bar = progress_bar(self.total, show, initial=self.done)
        self._bar.set_description("verified")
        metrics = _metrics(self, settings, log)
        task = (None if show else
                asyncio.create_task(heartbeat(log, "verify.progress", settings.progress_every,
                                              lambda: self.done, self.progress)))
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            self._bar.close()
            if metrics is not None:
                metrics.stop()
                if settings.metrics_file:   # with the exit code, set before leaving
                    metrics.write(settings.metrics_file, log)



def _metrics(watch: VerifyWatch, settings: Settings, log: Logger) -> Any:
    if not settings.wants_metrics:
        return None
    from .metrics import verify_metrics  # prometheus_client only when asked for

    return verify_metrics(watch, settings, log)
