"""The pipeline: read → validate → schedule → send → map → ledger.

Three kinds of task share one loop and one :class:`Scheduler`:

* the reader validates lines in small slices, writes invalid records straight to
  the ledger and admits valid ones — but only while fewer than ``window``
  records are pending, so memory does not grow with the input;
* the dispatcher takes a concurrency slot, waits for a batch worth sending, waits
  for the throttle, and only then takes the records and spawns the request
  (backpressure before spawning: nothing queues up inside aiohttp);
* one task per request, which frees its slot as soon as the answer is in, then
  maps it and settles each record: final outcome to the ledger, or back to the
  scheduler after a backoff wait.

A background task fsyncs the ledger every second from a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from . import outcomes
from .answers import Answer, Kind
from .batching import Scheduler, chunk_bodies
from .errors import ApiUnreachable, AuthFailed, RunAborted
from .ledger import FSYNC_EVERY, Ledger
from .logs import Logger, null_logger
from .retry import RetryPolicy
from .send import Client
from .settings import Settings
from .source import iter_lines
from .throttle import Throttle
from .validate import Invalid, Record, validate_line

READ_SLICE = 64     # lines validated between two turns of the event loop


@dataclass
class Stats:
    lines_read: int = 0
    requests: int = 0
    records_sent: int = 0
    transient: int = 0
    throttled: int = 0
    splits: int = 0
    throttle_cuts: int = 0
    results: int = 0
    started: float = field(default_factory=time.monotonic)

    def as_session(self) -> dict[str, Any]:
        return {"requests": self.requests, "records_sent": self.records_sent,
                "transient": self.transient, "throttled": self.throttled,
                "splits": self.splits, "throttle_cuts": self.throttle_cuts,
                "results": self.results,
                "duration_s": round(time.monotonic() - self.started, 3)}


class Pipeline:
    def __init__(self, settings: Settings, ledger: Ledger, client: Client, *,
                 on_results: Callable[[int], None] | None = None,
                 on_written: Callable[[list[dict[str, Any]]], None] | None = None,
                 log: Logger | None = None, rng: random.Random | None = None) -> None:
        self.settings = settings
        self.ledger = ledger
        self.client = client
        self.log = log if log is not None else null_logger()
        self.sched = Scheduler()
        self.throttle = Throttle(settings.rate)
        self.stats = Stats()
        self.batch_size = settings.batch_size
        self._window = settings.effective_window
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

    # -- control -------------------------------------------------------------

    def stop(self) -> None:
        """First SIGINT/SIGTERM: stop reading and sending; in-flight requests finish."""
        self._stopping = True
        self._changed.set()

    def cut_short(self) -> None:
        """Second signal: abandon in-flight requests (they stay in ``sent.jsonl``)."""
        for task in list(self._inflight):
            task.cancel()

    async def run(self) -> str:
        """'finished' or 'interrupted'; raises :class:`RunAborted` on a fatal condition."""
        self.ledger.open()
        self.log.info("run.started", window=self._window, batch_size=self.batch_size,
                      concurrency=self.settings.concurrency, rate=str(self.settings.rate))
        reader = asyncio.create_task(self._read(), name="reader")
        syncer = asyncio.create_task(self._fsync_every(FSYNC_EVERY), name="fsync")
        try:
            await self._dispatch()
            if self._stopping:
                await self._drain()
            else:
                await asyncio.gather(*self._inflight)
        finally:
            for task in (reader, syncer, *self._inflight):
                # Normally only the reader and syncer are left; after a cancellation
                # of run() itself, requests too: none may outlive the closed ledger.
                task.cancel()
            if self._inflight:
                await asyncio.wait(self._inflight)
            with contextlib.suppress(asyncio.CancelledError):
                await syncer
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            for timer in self._timers:
                timer.cancel()
            self.ledger.close()
        if reader.done() and not reader.cancelled() and reader.exception():
            raise reader.exception()  # type: ignore[misc]
        if self._crash is not None:
            raise self._crash
        if self._abort is not None:
            raise self._abort
        return "interrupted" if self._stopping else "finished"

    async def _fsync_every(self, seconds: float) -> None:
        # In a thread: an fsync can take tens of milliseconds, and a loop stalled
        # that long sends the requests it had already paced in a bunch.
        while True:
            await asyncio.sleep(seconds)
            await asyncio.to_thread(self.ledger.fsync)

    async def _drain(self) -> None:
        if not self._inflight:
            return
        self.log.warning("run.draining", in_flight=len(self._inflight),
                         grace_s=self.settings.grace_period)
        _, late = await asyncio.wait(self._inflight, timeout=self.settings.grace_period)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)

    # -- reading -------------------------------------------------------------

    async def _read(self) -> None:
        lines = iter_lines(self.ledger.input_path)
        now = datetime.now(UTC)
        done, sent_before = self.ledger.done, self.ledger.sent_before
        stats = self.stats
        try:
            while not self._stopping and self._abort is None:
                # Small slices, then back to the loop: a loop busy validating
                # thousands of lines would wake the senders late. (A reader thread
                # was tried: GIL hand-offs cost more than they saved.)
                chunk = list(islice(lines, READ_SLICE))
                if not chunk:
                    self.input_records = stats.lines_read
                    break
                stats.lines_read += len(chunk)
                invalid: list[dict[str, Any]] = []
                for line, raw in chunk:
                    if line in done:
                        continue
                    item = validate_line(line, raw, now)
                    if type(item) is Invalid:
                        invalid.append(outcomes.invalid(item))
                        continue
                    assert type(item) is Record
                    if line in sent_before:
                        # Sent by an earlier session that died before it was final.
                        item.attempts = sent_before[line]
                        item.uncertain = line in self.ledger.maybe_applied
                    while self.sched.pending >= self._window:
                        self._changed.set()   # let the dispatcher see what was admitted
                        await self._wait_change()
                        if self._stopping or self._abort is not None:
                            return
                    self.sched.admit(item)
                self._changed.set()
                if invalid:
                    self._final(invalid)
                await asyncio.sleep(0)
        finally:
            self._eof = True
            self._changed.set()

    async def _wait_change(self, limit: float | None = None) -> None:
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), limit)

    # -- dispatching ---------------------------------------------------------

    async def _dispatch(self) -> None:
        slots = self._slots
        while True:
            await slots.acquire()
            if not await self._batch_ready():
                slots.release()
                return
            sent_at = await self.throttle.acquire()
            records = self.sched.take(self.batch_size)
            if not records or self._stopping or self._abort is not None:
                self.sched.give_back(records)
                slots.release()
                continue
            task = asyncio.create_task(self._send(records, sent_at))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    async def _batch_ready(self) -> bool:
        """True when a request is worth sending now; False when there is nothing
        more to send (done, stopping, or aborted)."""
        deadline: float | None = None
        while True:
            if self._stopping or self._abort is not None:
                return False
            ready = len(self.sched)
            if ready >= self.batch_size:
                return True
            if ready:
                # Send a short batch only when no full one can form: input ended,
                # the window is full, or the input trickles (linger expired).
                if self._eof or self.sched.pending >= self._window:
                    return True
                now = time.monotonic()
                deadline = deadline or now + self.settings.linger
                if now >= deadline:
                    return True
                await self._wait_change(deadline - now)
                continue
            deadline = None
            if self._eof and self.sched.pending == 0:
                return False
            await self._wait_change()

    # -- one request ---------------------------------------------------------

    async def _send(self, records: list[Record], sent_at: float) -> None:
        """Send one request; the caller holds a concurrency slot, released here as
        soon as the answer is in: mapping and writing it need no connection, and
        the next request should not wait for them."""
        try:
            try:
                for record in records:
                    record.attempts += 1
                req = self.ledger.record_sent([r.line for r in records], sent_at)
                self.stats.requests += 1
                self.stats.records_sent += len(records)
                self.log.debug("batch.sent", records=len(records), first_line=records[0].line)
                answer = await self.client.send(chunk_bodies(records), len(records))
            finally:
                self._slots.release()
            if answer.kind is Kind.DEFINITE:
                # Let the dispatcher use the slot before this answer is mapped.
                # Any other answer is settled first, in this same step: a fatal
                # one must stop the dispatcher before it sends again.
                await asyncio.sleep(0)
            if answer.kind is not Kind.DEFINITE and not answer.fate_unknown:
                self.ledger.record_not_applied(req)
            await self._settle(records, answer, sent_at)
        except RunAborted as exc:
            self._fail(exc)
        except Exception as exc:
            # A bug or a full disk: stop cleanly (the ledger stays resumable), then
            # let run() raise it with its traceback.
            self._crash = exc
            self._fail(RunAborted(f"internal error: {exc!r}"))

    async def _settle(self, records: list[Record], answer: Answer, sent_at: float) -> None:
        if answer.kind is Kind.DEFINITE:
            assert answer.items is not None
            try:
                results = outcomes.map_items(records, answer.items)
            except outcomes.Mismatch as exc:
                answer = Answer(Kind.TRANSIENT, answer.status,
                                f"answer does not match the request: {exc}", fate_unknown=True)
            else:
                self.throttle.clean()
                self._final(results, records)
                return
        if answer.kind is Kind.FATAL:
            self._fail(AuthFailed(f"the API refused the credentials ({answer.reason}); "
                                  "fix them and run 'bulkupdate resume'",
                                  status=answer.status, lines=tuple(r.line for r in records)))
            return
        if answer.kind is Kind.SPLIT:
            await self._split(records, answer)
            return
        if answer.kind is Kind.BATCH:
            await self._bisect(records, answer)
            return
        self._transient(records, answer, sent_at)

    async def _split(self, records: list[Record], answer: Answer) -> None:
        for record in records:
            record.attempts -= 1   # refused before processing: not an attempt
        self.stats.splits += 1
        if len(records) == 1:
            self._final([outcomes.rejected_batch(records[0], answer.code, answer.reason)],
                        records)
            return
        self.batch_size = max(1, min(self.batch_size, len(records) // 2))
        self.log.warning("batch.split", code=answer.code, new_batch_size=self.batch_size)
        self.sched.give_back(records)
        self._changed.set()

    async def _bisect(self, records: list[Record], answer: Answer) -> None:
        """A request refused as a whole: halve it until the refusal has one owner."""
        if len(records) == 1:
            self._final([outcomes.rejected_batch(records[0], answer.code, answer.reason)],
                        records)
            return
        self.log.info("batch.bisect", records=len(records), code=answer.code)
        half = len(records) // 2
        for part in (records[:half], records[half:]):
            await self._slots.acquire()
            if self._stopping or self._abort is not None:
                self._slots.release()
                return
            await self._send(part, await self.throttle.acquire())

    def _transient(self, records: list[Record], answer: Answer, sent_at: float) -> None:
        self.stats.transient += 1
        if answer.throttled:
            self.stats.throttled += 1
            if self.throttle.throttled(sent_at, answer.retry_after):
                self.stats.throttle_cuts += 1
                self.log.warning("throttle.cut", share=round(self.throttle.share, 3),
                                 retry_after=answer.retry_after)
        elif answer.retry_after:
            self.throttle.pause(answer.retry_after)
        delay = self.retry.backoff(max(r.attempts for r in records), answer.retry_after)
        retry: list[Record] = []
        final: list[dict[str, Any]] = []
        for record in records:
            record.uncertain = record.uncertain or answer.fate_unknown
            verdict = self.retry.give_up(record.attempts, record.waited, delay)
            if verdict == "attempts":
                if answer.unreachable:
                    self._fail(ApiUnreachable(
                        f"the API at {self.settings.base_url} could not be reached after "
                        f"{record.attempts} attempts ({answer.reason}); run 'bulkupdate resume' "
                        "when it is back", lines=(record.line,)))
                    return
                final.append(outcomes.retryable(record, answer.reason))
            elif verdict == "budget":
                final.append(outcomes.retryable(
                    record, f"{answer.reason} (retry budget of "
                            f"{self.settings.retry_budget:g}s used up)"))
            else:
                record.waited += delay
                retry.append(record)
        self.log.info("batch.retry", status=answer.status, reason=answer.reason,
                      retrying=len(retry), given_up=len(final), wait_s=round(delay, 3))
        if final:
            self._final(final, [r for r in records if r not in retry])
        if retry:
            self._later(delay, retry)

    def _later(self, delay: float, records: list[Record]) -> None:
        def wake() -> None:
            self._timers.discard(handle)
            self.sched.give_back(records)
            self._changed.set()

        handle = asyncio.get_running_loop().call_later(delay, wake)
        self._timers.add(handle)

    def _fail(self, abort: RunAborted) -> None:
        if self._abort is None:
            self._abort = abort
            self.log.error("run.aborted", reason=str(abort), status=abort.status)
        self._changed.set()

    def _final(self, results: list[dict[str, Any]], records: Sequence[Record] = ()) -> None:
        lines: list[dict[str, Any]] | None = [] if self._on_written is not None else None
        written = self.ledger.write_results(results, lines)
        self.stats.results += written
        for record in records:
            self.sched.finish(record)
        if records:
            self._changed.set()
        self._on_results(written)
        if self._on_written is not None and lines:
            try:
                self._on_written(lines)
            except Exception as exc:
                # The caller's callback failed: stop as after any crash (the
                # ledger already holds these results), then let run() raise it.
                self._crash = self._crash or exc
                self._fail(RunAborted(f"on_result raised {exc!r}"))
