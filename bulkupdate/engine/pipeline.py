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
The reader lives in :mod:`.reader`, the handling of answers in :mod:`.handle`, their shared
state in ``flow``; this module starts them and dispatches.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from ..capillary.answers import Kind
from ..errors import DiskFull, RunAborted
from ..estimate import counted, duration, seconds
from ..rundir import FSYNC_EVERY
from ..rundir.files import is_disk_full
from ..validate import Record
from .diskfull import DiskWatch
from .flow import Stats
from .handle import Handling
from .reader import READ_SLICE, Reading
from .scheduler import chunk_bodies

__all__ = ["READ_SLICE", "Pipeline", "Stats"]


class Pipeline(Reading, Handling):
    _pacing: asyncio.Task[None] | None = None   # the dispatcher, while the throttle holds it

    # -- control -------------------------------------------------------------

    def stop(self) -> None:
        """First SIGINT/SIGTERM: stop reading and sending; in-flight requests finish."""
        self._stopping = True
        self._changed.set()
        if self._pacing is not None:
            # A throttle pause may last up to backoff_cap: end it now, not then.
            self._pacing.cancel()

    def cut_short(self) -> None:
        """Second signal: abandon in-flight requests (they stay in ``sent.jsonl``)."""
        for task in list(self._inflight):
            task.cancel()

    async def run(self) -> str:
        """'finished' or 'interrupted'; raises :class:`RunAborted` on a fatal condition."""
        self.ledger.open()
        self._disk = disk = DiskWatch(self.ledger, self.log, self.settings.disk_wait,
                                      self._fail, lambda: self._stopping)
        total = counted(self.ledger.input_path)     # counted already: the bar's total
        left = None if total is None else max(0, total - self.ledger.done.count)
        estimate = None if left is None else seconds(left, self.settings.rate, self.batch_size)
        self.log.info("run.started", window=self._window, batch_size=self.batch_size,
                      concurrency=self.settings.concurrency, rate=str(self.settings.rate),
                      records_left=left, estimate_s=None if estimate is None else round(estimate),
                      estimate=None if estimate is None else duration(estimate))
        reader = asyncio.create_task(self._read(), name="reader")
        syncer = asyncio.create_task(self._fsync_every(FSYNC_EVERY), name="fsync")
        watch = asyncio.create_task(disk.keep(), name="disk")
        try:
            # Its own task, so that stop() can cut a throttle pause short by
            # cancelling it without touching the caller's task.
            await asyncio.create_task(self._dispatch(), name="dispatcher")
            if self._stopping:
                await self._drain()
            else:
                await asyncio.gather(*self._inflight)
            await disk.settled()   # the answers a full disk refused: written, or given up
        finally:
            for task in (reader, syncer, watch, *self._inflight):
                # Normally only the reader and syncer are left; after a cancellation
                # of run() itself, requests too: none may outlive the closed ledger.
                task.cancel()
            if self._inflight:
                await asyncio.wait(self._inflight)
            for task in (syncer, watch):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
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

    # -- dispatching ---------------------------------------------------------

    async def _dispatch(self) -> None:
        slots = self._slots
        while True:
            await slots.acquire()
            if not await self._batch_ready():
                slots.release()
                return
            try:
                self._pacing = asyncio.current_task()
                sent_at = await self.throttle.acquire()
            except asyncio.CancelledError:
                if not self._stopping:
                    raise
                slots.release()   # stop() ended the pause: nothing more is sent
                return
            finally:
                self._pacing = None
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
                # the reader has no room, or the input trickles (linger expired).
                if self._eof or self._full():
                    return True
                now = time.monotonic()
                deadline = deadline or now + self.settings.linger
                if now >= deadline:
                    return True
                await self._wait_change(deadline - now)
                continue
            deadline = None
            if self._eof and self.sched.pending == self._settling:
                # Nothing left but customers held for settling, and nobody behind them.
                return False
            await self._wait_change()

    # -- one request ---------------------------------------------------------

    async def _send(self, records: list[Record], sent_at: float) -> None:
        """Send one request; the caller holds a concurrency slot, released here as
        soon as the answer is in: mapping and writing it need no connection, and
        the next request should not wait for them."""
        try:
            try:
                journaled = await self._journal(records, sent_at)
                if journaled is None:
                    self.sched.give_back(records)   # never sent: resume sends them
                    self._changed.set()
                    return
                req, sent_at = journaled
                for record in records:
                    record.attempts += 1
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
            if is_disk_full(exc):   # a write outside the ledger's care: still no crash
                self._fail(DiskFull(self.ledger.dir))
                return
            # A bug: stop cleanly (the ledger stays resumable), then let run()
            # raise it with its traceback.
            self._crash = exc
            self._fail(RunAborted(f"internal error: {exc!r}"))

    async def _journal(self, records: list[Record], sent_at: float) -> tuple[str, float] | None:
        """(request id, grant time) once the request is in ``sent.jsonl``; None when
        it must not leave. A full disk holds it here, slot and all, so nothing else
        leaves either; the pacer's grant is asked again afterwards, as it went stale."""
        assert self._disk is not None
        lines = [r.line for r in records]
        while True:
            if self._disk.ok.is_set():
                req = self.ledger.record_sent(lines, sent_at)
                if req is not None:
                    return req, sent_at
            await self._disk.ok.wait()
            if self._stopping or self._abort is not None:
                return None
            sent_at = await self.throttle.acquire()
