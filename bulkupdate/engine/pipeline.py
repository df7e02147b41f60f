"""Running the pipeline (read → validate → schedule → send → map → ledger) and
dispatching its requests.

Three kinds of task share one loop and one :class:`Scheduler`:

* the reader validates lines in small slices, writes invalid records straight to
  the ledger and admits valid ones — but only while fewer than ``window``
  records are ready or in flight and the held bound has room (``flow``), so
  memory does not grow with the input and held customers stall nobody;
* the dispatcher takes a concurrency slot, waits for a batch worth sending, waits
  for the throttle, and only then takes the records and spawns the request
  (backpressure before spawning: nothing queues up inside aiohttp);
* one task per request, which frees its slot as soon as the answer is in, then
  maps it and settles each record: final outcome to the ledger, or back to the
  scheduler after a backoff wait.

A background task fsyncs the ledger every second from a worker thread; another
waits out a full disk (:mod:`.diskfull`): sending pauses, answers stay in memory.
Composition, not mixins: the pipeline holds a :class:`~.flow.Flow` (the shared
state), a :class:`~.reader.Reader`, a :class:`~.throttle.Throttle`, the client
and a :class:`~.handle.Handler`; each answer becomes decisions
(:func:`~.decide.decide`, pure) that the handler applies. Watchers read
:meth:`Pipeline.snapshot`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable

from ..base.logs import Logger, null_logger
from ..base.retry import RetryPolicy
from ..capillary.answers import Answer, Kind, status_label
from ..capillary.client import Client
from ..capillary.result import RecordResult
from ..errors import DiskFull, RunAborted
from ..planning.estimate import duration, seconds
from ..planning.marks import Marks
from ..rundir import FSYNC_EVERY, Ledger
from ..rundir.files import is_disk_full
from ..settings import MAX_BATCH, Settings
from ..source.validate import Record
from .decide import decide
from .diskfull import DiskWatch
from .flow import Flow, Snapshot, Stats
from .handle import Handler
from .presend import journal
from .reader import READ_SLICE, Reader
from .scheduler import chunk_bodies
from .throttle import Throttle

__all__ = ["READ_SLICE", "Pipeline", "Snapshot", "Stats"]


class Pipeline:
    def __init__(self, settings: Settings, ledger: Ledger, client: Client, *,
                 on_results: Callable[[int], None] | None = None,
                 on_written: Callable[[list[RecordResult]], None] | None = None,
                 log: Logger | None = None, rng: random.Random | None = None,
                 held: int | None = None, records: int | None = None,
                 marks: Marks | None = None) -> None:
        """``held``: the held bound in records, if not :func:`~.flow.held_limit`'s;
        ``records``: the input's records, when counted (for ``run.started``'s estimate);
        ``marks``: the state store's side of the run (``--state``), if any."""
        self.marks = marks
        self.settings = settings
        self.records = records
        self.ledger = ledger
        self.client = client
        self.log = log = log if log is not None else null_logger()
        self.flow = Flow(ledger, log, batch_size=settings.batch_size,
                         window=settings.effective_window, held=held,
                         on_results=on_results, on_written=on_written)
        self.retry = RetryPolicy.from_settings(settings, rng)
        self.throttle = Throttle(settings.rate)
        # One endpoint flows through: the client sends to it, the reader reads its items.
        self.reader = Reader(self.flow, ledger, self.retry.settle, log, client.endpoint, marks)
        # A batch size the operator chose (or below the most) is kept when answers are short.
        self.handler = Handler(self.flow, self.throttle, log, settings.rate, fixed_batch=bool(
            ledger.manifest.get("batch_size_chosen")) or settings.batch_size < MAX_BATCH,
            base_url=settings.base_url)
        self._inflight: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(settings.concurrency)   # requests in flight
        self._pacing: asyncio.Task[None] | None = None   # the dispatcher, while paced
        self._disk: DiskWatch | None = None              # while run() runs

    @property
    def stats(self) -> Stats:
        return self.flow.stats

    @property
    def input_records(self) -> int | None:
        return self.reader.input_records

    def snapshot(self) -> Snapshot:
        """The figures a watcher may read (progress, metrics), as one value."""
        flow, stats = self.flow, self.flow.stats
        return Snapshot(pending=flow.sched.pending, active=flow.active, held=flow.waiting,
                        held_records=flow.held_records, requests=stats.requests,
                        transient_answers=stats.transient_answers,
                        throttle_share=self.throttle.share, learned_rate=stats.learned_rate,
                        batch_size=flow.batch_size, input_records=self.reader.input_records)

    # -- control -------------------------------------------------------------

    def stop(self) -> None:
        """First SIGINT/SIGTERM: stop reading and sending; in-flight requests finish."""
        self.flow.stopping = True
        self.flow.changed.set()
        if self._pacing is not None:
            # A throttle pause may last up to backoff_cap: end it now, not then.
            self._pacing.cancel()

    def cut_short(self) -> None:
        """Second signal: abandon in-flight requests (they stay in ``sent.jsonl``)."""
        for task in list(self._inflight):
            task.cancel()

    async def run(self) -> str:
        """'finished' or 'interrupted'; raises :class:`RunAborted` on a fatal condition."""
        flow = self.flow
        self.ledger.open()
        self._disk = disk = DiskWatch(self.ledger, self.log, self.settings.disk_wait,
                                      flow.fail, lambda: flow.stopping)
        plan = self.reader.plan   # lines a state store's plan does not send
        unsent = plan.skipped_count - self.ledger.results.outcomes["unchanged"] if plan else 0
        _started(self.log, self.settings, self.ledger, flow, self.records, unsent)
        reader = asyncio.create_task(self.reader.run(disk), name="reader")
        syncer = asyncio.create_task(_fsync_every(self.ledger, FSYNC_EVERY, self.marks),
                                     name="fsync")
        watch = asyncio.create_task(disk.keep(), name="disk")
        try:
            # Its own task, so that stop() can cut a throttle pause short by
            # cancelling it without touching the caller's task.
            await asyncio.create_task(self._dispatch(), name="dispatcher")
            if flow.stopping:
                await _drain(self._inflight, self.settings.grace_period, self.log)
            else:
                await asyncio.gather(*self._inflight)
            await disk.settled()   # the answers a full disk refused: written, or given up
        finally:
            await _wind_down(reader, (syncer, watch), self._inflight)
            flow.cancel_timers()
            self.ledger.close()
        if reader.done() and not reader.cancelled() and reader.exception():
            raise reader.exception()  # type: ignore[misc]
        if flow.crash is not None:
            raise flow.crash
        if flow.abort is not None:
            raise flow.abort
        return "interrupted" if flow.stopping else "finished"

    # -- dispatching ---------------------------------------------------------

    async def _dispatch(self) -> None:
        flow, slots = self.flow, self._slots
        while True:
            await slots.acquire()
            if not await self.flow.batch_ready(self.settings.linger):
                slots.release()
                return
            if self.marks is not None:   # commit the marks before the grant, not after
                await self.marks.flush()
            try:
                self._pacing = asyncio.current_task()
                sent_at = await self.throttle.acquire()
            except asyncio.CancelledError:
                if not flow.stopping:
                    raise
                slots.release()   # stop() ended the pause: nothing more is sent
                return
            finally:
                self._pacing = None
            records = flow.sched.take(flow.batch_size)
            if not records or flow.over:
                flow.sched.give_back(records)
                slots.release()
                continue
            task = asyncio.create_task(self._send(records, sent_at))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    # -- one request ---------------------------------------------------------

    async def _send(self, records: list[Record], sent_at: float) -> None:
        """Send one request; the caller holds a concurrency slot, released here as
        soon as the answer is in: mapping and writing it need no connection, and
        the next request should not wait for them."""
        flow = self.flow
        answer: Answer | None = None
        judge_first = False
        try:
            try:
                assert self._disk is not None
                journaled = await journal(records, sent_at, flow, self._disk,
                                          self.throttle, self.marks)
                if journaled is None:
                    flow.sched.give_back(records)   # never sent: resume sends them
                    flow.changed.set()
                    return
                req, sent_at = journaled
                for record in records:
                    record.attempts += 1
                stats = flow.stats
                stats.requests += 1
                stats.records_sent += len(records)
                self.log.debug("batch.sent", records=len(records), first_line=records[0].line)
                answer = await self.client.send(
                    chunk_bodies(records, self.client.endpoint), len(records))
                stats.statuses[status_label(answer.status)] += 1
            finally:
                # While answers lately did not line up, this one is judged before its
                # slot is used again: the breaker must trip before a request leaves.
                judge_first = (answer is not None and answer.kind is Kind.DEFINITE
                               and self.handler.lining_up.wary)
                if not judge_first:
                    self._slots.release()
            if answer.kind is Kind.DEFINITE and not judge_first:
                # Let the dispatcher use the slot before this answer is mapped.
                # Any other answer is settled first, in this same step: a fatal
                # one must stop the dispatcher before it sends again.
                await asyncio.sleep(0)
            if answer.kind is not Kind.DEFINITE and not answer.fate_unknown:
                self.ledger.record_not_applied(req)
            try:
                bisect = self.handler.apply(decide(
                    records, answer, sent_at=sent_at, now=time.monotonic(), retry=self.retry,
                    batch_size=flow.batch_size, base_url=self.settings.base_url,
                    endpoint=self.client.endpoint))
            finally:
                if judge_first:
                    self._slots.release()
            if bisect is not None:
                await self._bisect(bisect.halves)
        except RunAborted as exc:
            flow.fail(exc)
        except Exception as exc:
            if is_disk_full(exc):   # a write outside the ledger's care: still no crash
                flow.fail(DiskFull(self.ledger.dir))
                return
            flow.crashed(exc, RunAborted(f"internal error: {exc!r}"))

    async def _bisect(self, halves: tuple[list[Record], list[Record]]) -> None:
        """A request refused as a whole: halve it until the refusal has one owner."""
        for part in halves:
            await self._slots.acquire()
            if self.flow.over:
                self._slots.release()
                return
            await self._send(part, await self.throttle.acquire())


def _started(log: Logger, settings: Settings, ledger: Ledger, flow: Flow,
             total: int | None, unsent: int = 0) -> None:
    left = None if total is None else max(0, total - ledger.done.count - unsent)
    estimate = None if left is None else seconds(left, settings.rate, flow.batch_size)
    log.info("run.started", api=ledger.api, window=flow.window, batch_size=flow.batch_size,
             concurrency=settings.concurrency, rate=str(settings.rate),
             records_left=left, estimate_s=None if estimate is None else round(estimate),
             estimate=None if estimate is None else duration(estimate))


async def _fsync_every(ledger: Ledger, seconds: float, marks: Marks | None) -> None:
    # In a thread: an fsync can take tens of milliseconds, and a loop stalled
    # that long sends the requests it had already paced in a bunch.
    while True:
        await asyncio.sleep(seconds)
        await asyncio.to_thread(ledger.fsync)
        if marks is not None:   # confirm in the store what is now durably final
            # A store that fails here loses nothing and must not stop the night:
            # results.jsonl is the authority, the next apply (or replay) catches up.
            with contextlib.suppress(Exception):
                await marks.confirm_async()


async def _wind_down(reader: asyncio.Task[None], helpers: tuple[asyncio.Task[None], ...],
                     inflight: set[asyncio.Task[None]]) -> None:
    """Every task of a run ended before its ledger closes, however run() leaves."""
    for task in (reader, *helpers, *inflight):
        # Normally only the reader and the helpers are left; after a cancellation
        # of run() itself, requests too: none may outlive the closed ledger.
        task.cancel()
    if inflight:
        await asyncio.wait(inflight)
    for task in helpers:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    with contextlib.suppress(asyncio.CancelledError):
        await reader


async def _drain(inflight: set[asyncio.Task[None]], grace: float, log: Logger) -> None:
    """After a stop: the requests in flight get ``grace`` seconds to finish."""
    if not inflight:
        return
    log.warning("run.draining", in_flight=len(inflight), grace_s=grace)
    _, late = await asyncio.wait(inflight, timeout=grace)
    for task in late:
        task.cancel()
    if late:
        await asyncio.wait(late)
