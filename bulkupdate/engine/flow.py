"""The shared state of one pipeline run, and the three moves every stage makes
on it: wait for a change, write final results, abort.

:class:`Flow` holds the scheduler, throttle, retry policy, counters and flags;
the reader (:mod:`.reader`), the answer handler (:mod:`.handle`) and the dispatcher
(:mod:`.pipeline`) are its subclasses, each one job, combined in
:class:`~bulkupdate.pipeline.Pipeline`.

Two bounds keep memory flat, counted apart so that customers held for
``settle`` never stall the others:

* the *window* bounds the records that are ready to send or in flight;
* the *held* bound (:func:`held_limit`, much larger: a held record is its line
  number and its bytes, about 1 KB) bounds the records waiting out a settle or
  a backoff, and those queued behind an earlier record of their customer.

The reader admits a record only while both have room. Held records used to
count in the window: with 3% of requests of unknown fate and a 60 s settle,
they filled it and no free customer was admitted for most of a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..capillary.client import Client
from ..errors import RunAborted
from ..logs import Logger, null_logger
from ..rundir import Ledger
from ..settings import Settings
from ..validate import Record
from .diskfull import DiskWatch
from .retry import RetryPolicy
from .scheduler import Scheduler
from .throttle import Throttle

HELD_FLOOR = 20_000     # records; ~20 MB at worst (measured: ~0.8 KB per record)
HELD_PER_WINDOW = 4


def held_limit(window: int) -> int:
    """How many records may be held (settling, in backoff, or queued behind their
    customer's earlier record) on top of the ``window``: 3% of 100 requests/s of
    50 records held for a 60 s settle is ~9,000, so room to spare."""
    return max(HELD_FLOOR, HELD_PER_WINDOW * window)


@dataclass
class Stats:
    """One session's figures, named for what they count (the same names in the
    manifest's sessions, ``summary.json``, the report and the metrics)."""

    lines_read: int = 0
    requests: int = 0                   # requests sent (each retry is one more)
    records_sent: int = 0               # records in them
    transient_answers: int = 0          # answers that decided nothing: retried or given up
    throttled_answers: int = 0          # of which 429s
    splits: int = 0
    throttle_cuts: int = 0
    results: int = 0
    learned_rate: str | None = None     # the server's limit, seen while saturated
    statuses: Counter[str] = field(default_factory=Counter)   # requests by answer status
    started: float = field(default_factory=time.monotonic)

    def as_session(self) -> dict[str, Any]:
        return {"requests": self.requests, "records_sent": self.records_sent,
                "transient_answers": self.transient_answers,
                "throttled_answers": self.throttled_answers,
                "splits": self.splits, "throttle_cuts": self.throttle_cuts,
                "results": self.results, "learned_rate": self.learned_rate,
                "statuses": dict(sorted(self.statuses.items())),
                "duration_s": round(time.monotonic() - self.started, 3)}


class Flow:
    _disk: DiskWatch | None = None   # while run() runs: sending and reading wait on it
    def __init__(self, settings: Settings, ledger: Ledger, client: Client, *,
                 on_results: Callable[[int], None] | None = None,
                 on_written: Callable[[list[dict[str, Any]]], None] | None = None,
                 log: Logger | None = None, rng: random.Random | None = None,
                 held: int | None = None) -> None:
        """``held``: the held bound in records, if not :func:`held_limit`'s."""
        self.settings = settings
        self.ledger = ledger
        self.client = client
        self.log = log if log is not None else null_logger()
        self.sched = Scheduler()
        self.throttle = Throttle(settings.rate)
        self.stats = Stats()
        self.batch_size = settings.batch_size
        self._window = settings.effective_window
        self._held_limit = held if held is not None else held_limit(self._window)
        self._changed = asyncio.Event()
        self._eof = False
        self._stopping = False
        self._abort: RunAborted | None = None
        self._crash: Exception | None = None
        self.input_records: int | None = None   # known once the reader saw the end
        self._inflight: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(settings.concurrency)   # requests in flight
        self._timers: set[asyncio.TimerHandle] = set()
        self._on_results = on_results or (lambda n: None)
        self._on_written = on_written   # the results themselves, in ledger order
        self.retry = RetryPolicy.from_settings(settings, rng)
        self._settling = 0      # final records whose customer is held until settled
        self._waiting = 0       # records in a timer: settling, or waiting to be sent again

    # -- the two bounds -------------------------------------------------------

    @property
    def held(self) -> int:
        """Customers held now: their record waits out a settle or a backoff."""
        return self._waiting

    @property
    def held_records(self) -> int:
        """What the held bound counts: held records, and those queued behind one
        of their customer's earlier records."""
        return self._waiting + self.sched.blocked

    @property
    def active(self) -> int:
        """What the window counts: records ready to send or in flight."""
        return self.sched.pending - self.held_records

    def _full(self) -> bool:
        """No room for another record: the reader waits, short batches may go."""
        return self.active >= self._window or self.held_records >= self._held_limit

    async def _wait_change(self, limit: float | None = None) -> None:
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), limit)

    def _fail(self, abort: RunAborted) -> None:
        if self._abort is None:
            self._abort = abort
            self.log.error("run.aborted", reason=str(abort), status=abort.status)
        self._changed.set()

    def _final(self, results: list[dict[str, Any]], records: Sequence[Record] = (), *,
               hold_until: float = 0.0) -> None:
        """Write final outcomes and release the customers — at ``hold_until`` when
        an attempt of unknown fate must settle first."""
        lines: list[dict[str, Any]] | None = [] if self._on_written is not None else None
        written = self.ledger.write_results(results, lines)
        self.stats.results += written
        delay = hold_until - time.monotonic() if records else 0.0
        if delay > 0:
            self._settling += len(records)
            self._later(delay, list(records), release=True)
        else:
            for record in records:
                self.sched.finish(record)
        if records:
            self._changed.set()   # also when held: the input's end may now be only these
        self._on_results(written)
        if self._on_written is not None and lines:
            try:
                self._on_written(lines)
            except Exception as exc:
                # The caller's callback failed: stop as after any crash (the
                # ledger already holds these results), then let run() raise it.
                self._crash = self._crash or exc
                self._fail(RunAborted(f"on_result raised {exc!r}"))

    def _later(self, delay: float, records: list[Record], *, release: bool = False) -> None:
        """After ``delay``: put ``records`` back to be sent, or (``release``) let
        their customers' next updates go."""
        def wake() -> None:
            self._timers.discard(handle)
            self._waiting -= len(records)
            if release:
                self._settling -= len(records)
                for record in records:
                    self.sched.finish(record)
            else:
                self.sched.give_back(records)
            self._changed.set()

        handle = asyncio.get_running_loop().call_later(delay, wake)
        self._timers.add(handle)
        self._waiting += len(records)
        self._changed.set()     # they left the window: the reader may admit others
