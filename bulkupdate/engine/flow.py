"""The shared state of one pipeline run, and the moves every stage makes on it:
wait for a change, write final results, hold records for a while, abort.

:class:`Flow` is one small explicit object with public attributes: the
scheduler, the counters of held records, the flags (input ended, stopping,
aborted) and the event that wakes whoever waits for a change. The reader
(:mod:`.reader`), the applier of decisions (:mod:`.handle`) and the dispatcher
(:mod:`.pipeline`) each hold it; none reads another's private state. What the
watch and the metrics see is a :class:`Snapshot`.

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
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..base.logs import Logger
from ..capillary.result import RecordResult
from ..errors import RunAborted
from ..rundir import Ledger
from ..source.validate import Record
from .scheduler import Scheduler

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


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a watcher may know of a running pipeline, at one instant."""

    pending: int = 0                    # admitted, not yet final
    active: int = 0                     # ready to send or in flight (the window's)
    held: int = 0                       # customers held now: settle or backoff
    held_records: int = 0               # the held bound's count (held + queued behind)
    requests: int = 0
    transient_answers: int = 0
    throttle_share: float = 1.0         # the pace aimed at, as a share of --rate
    learned_rate: str | None = None
    batch_size: int = 0
    input_records: int | None = None    # known once the reader saw the end


class Flow:
    def __init__(self, ledger: Ledger, log: Logger, *, batch_size: int, window: int,
                 held: int | None = None,
                 on_results: Callable[[int], None] | None = None,
                 on_written: Callable[[list[RecordResult]], None] | None = None) -> None:
        """``held``: the held bound in records, if not :func:`held_limit`'s."""
        self.ledger = ledger
        self.log = log
        self.sched = Scheduler()
        self.stats = Stats()
        self.batch_size = batch_size
        self.window = window
        self.held_limit = held if held is not None else held_limit(window)
        self.changed = asyncio.Event()
        self.eof = False
        self.stopping = False
        self.abort: RunAborted | None = None
        self.crash: Exception | None = None
        self.settling = 0      # final records whose customer is held until settled
        self.waiting = 0       # records in a timer: settling, or waiting to be sent again
        self._timers: set[asyncio.TimerHandle] = set()
        self._on_results = on_results or (lambda n: None)
        self._on_written = on_written   # the results themselves, in ledger order

    # -- the two bounds -------------------------------------------------------

    @property
    def held_records(self) -> int:
        """What the held bound counts: held records, and those queued behind one
        of their customer's earlier records."""
        return self.waiting + self.sched.blocked

    @property
    def active(self) -> int:
        """What the window counts: records ready to send or in flight."""
        return self.sched.pending - self.held_records

    def full(self) -> bool:
        """No room for another record: the reader waits, short batches may go.
        (Asked once per record read: the two counts inline, not through properties.)"""
        held = self.waiting + self.sched.blocked
        return self.sched.pending - held >= self.window or held >= self.held_limit

    @property
    def over(self) -> bool:
        """Nothing more may be sent: stopping or aborted."""
        return self.stopping or self.abort is not None

    async def batch_ready(self, linger: float) -> bool:
        """True when a request is worth sending now; False when there is nothing
        more to send (done, stopping, or aborted)."""
        deadline: float | None = None
        while True:
            if self.over:
                return False
            ready = len(self.sched)
            if ready >= self.batch_size:
                return True
            if ready:
                # Send a short batch only when no full one can form: input ended,
                # the reader has no room, or the input trickles (linger expired).
                if self.eof or self.full():
                    return True
                now = time.monotonic()
                deadline = deadline or now + linger
                if now >= deadline:
                    return True
                await self.wait_change(deadline - now)
                continue
            deadline = None
            if self.eof and self.sched.pending == self.settling:
                # Nothing left but customers held for settling, and nobody behind them.
                return False
            await self.wait_change()

    async def wait_change(self, limit: float | None = None) -> None:
        self.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.changed.wait(), limit)

    def fail(self, abort: RunAborted) -> None:
        if self.abort is None:
            self.abort = abort
            self.log.error("run.aborted", reason=str(abort), status=abort.status)
        self.changed.set()

    def crashed(self, exc: Exception, abort: RunAborted) -> None:
        """A bug (or the caller's callback): stop cleanly — the ledger stays
        resumable — and let run() raise ``exc`` with its traceback."""
        self.crash = self.crash or exc
        self.fail(abort)

    def final(self, results: list[RecordResult], records: Sequence[Record] = (), *,
              hold_until: float = 0.0) -> None:
        """Write final outcomes and release the customers — at ``hold_until`` when
        an attempt of unknown fate must settle first."""
        lines: list[RecordResult] | None = [] if self._on_written is not None else None
        written = self.ledger.write_results(results, lines)
        self.stats.results += written
        delay = hold_until - time.monotonic() if records else 0.0
        if delay > 0:
            self.settling += len(records)
            self.later(delay, list(records), release=True)
        else:
            for record in records:
                self.sched.finish(record)
        if records:
            self.changed.set()   # also when held: the input's end may now be only these
        self._on_results(written)
        if self._on_written is not None and lines:
            try:
                self._on_written(lines)
            except Exception as exc:
                # The ledger already holds these results.
                self.crashed(exc, RunAborted(f"on_result raised {exc!r}"))

    @property
    def wants_values(self) -> bool:
        """A caller takes each result as a value (``on_result``): nothing is copied unread."""
        return self._on_written is not None

    def copied(self, lines: list[tuple[int, bytes]]) -> None:
        """Write ready-made ``unchanged`` lines (the plan's) as they are: final at once."""
        written = self.ledger.copy_results(lines)
        self.stats.results += written
        self._on_results(written)

    def later(self, delay: float, records: list[Record], *, release: bool = False) -> None:
        """After ``delay``: put ``records`` back to be sent, or (``release``) let
        their customers' next updates go."""
        def wake() -> None:
            self._timers.discard(handle)
            self.waiting -= len(records)
            if release:
                self.settling -= len(records)
                for record in records:
                    self.sched.finish(record)
            else:
                self.sched.give_back(records)
            self.changed.set()

        handle = asyncio.get_running_loop().call_later(delay, wake)
        self._timers.add(handle)
        self.waiting += len(records)
        self.changed.set()     # they left the window: the reader may admit others

    def cancel_timers(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
