"""The reader: input lines → validated records, admitted to the scheduler only
while the window (records ready or in flight) and the held bound (records
settling, in backoff, or behind their customer's earlier record) both have room
(see :mod:`.flow`), so memory does not grow with the input and held customers do
not stall the others. Invalid records go straight to the ledger; lines with a
result are skipped. With a state store's plan (:mod:`~bulkupdate.planning`), the
lines it decided not to send are not validated again: their ready-made
``unchanged`` results are copied to the ledger as the reader passes them."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from itertools import islice

import orjson

from ..base.endpoint import UPDATE, Endpoint
from ..base.logs import Logger
from ..capillary import outcomes
from ..capillary.result import RecordResult
from ..planning.files import PlanReader
from ..planning.marks import Marks
from ..rundir import Ledger, LineSet
from ..source.lines import iter_lines
from ..source.validate import Invalid, Record, validator
from .diskfull import DiskWatch
from .flow import Flow

READ_SLICE = 64     # lines validated between two turns of the event loop


def settle_left(settle: float, last_sent: float | None, now: float) -> float:
    """Seconds a record an earlier session sent (at ``last_sent``, wall clock)
    must still wait before it goes again: what is left of ``settle``. The whole
    of it when the send time is unknown, or later than now (the clock went back)."""
    if last_sent is None or last_sent > now:
        return settle
    return max(0.0, settle - (now - last_sent))


class Reader:
    """Reads the input once, admitting what the flow has room for. Its own state:
    how many lines it read, whether it saw the end, and how many records it held
    back because an earlier session left them in flight. The ``endpoint`` says
    which items the lines are (a CSV's rows, and the validator)."""

    def __init__(self, flow: Flow, ledger: Ledger, settle: float, log: Logger,
                 endpoint: Endpoint = UPDATE, marks: Marks | None = None) -> None:
        self.flow = flow
        self.api = endpoint.name
        self.validate = validator(endpoint.name)
        self.ledger = ledger
        self.settle = settle
        self.log = log
        self.input_records: int | None = None   # known once the end was seen
        self.resettled = 0
        self.plan = PlanReader.of(ledger.dir)   # None: no --state, every line is sent
        self.marks = marks
        self._done_before: LineSet | None = None   # set when the reading starts

    async def run(self, disk: DiskWatch) -> None:
        flow = self.flow
        lines = iter_lines(self.ledger.input_path, api=self.api)
        now = datetime.now(UTC)   # one "today" for the whole input's dates
        # A session that starts with nothing done finds no line done before it
        # reads it (results come after admission): no lookup per line then.
        self._done_before = self.ledger.done if self.ledger.done.count else None
        try:
            while not flow.over:
                # Small slices, then back to the loop: a loop busy validating
                # thousands of lines would wake the senders late. (A reader thread
                # was tried: GIL hand-offs cost more than they saved.)
                if not disk.ok.is_set():
                    # Invalid lines' results would pile up in memory unwritten.
                    await disk.ok.wait()
                    continue
                chunk = list(islice(lines, READ_SLICE))
                if not chunk:
                    self.input_records = flow.stats.lines_read
                    break
                flow.stats.lines_read += len(chunk)
                if not await self._admit(chunk, now):
                    return
                await asyncio.sleep(0)
        finally:
            flow.eof = True
            flow.changed.set()

    async def _admit(self, chunk: list[tuple[int, bytes]], now: datetime) -> bool:
        """Validate and admit one slice; False when the run stopped meanwhile."""
        flow, ledger = self.flow, self.ledger
        done, done_before, sent_before = ledger.done, self._done_before, ledger.sent_before
        unsent: list[RecordResult] = []   # invalid or unchanged: final at once
        copied: list[tuple[int, bytes]] = []   # unchanged, as the plan wrote them
        validate, plan, marks = self.validate, self.plan, self.marks
        as_values = flow.wants_values
        for line, raw in chunk:
            if plan is not None and plan.skipped(line):
                result = plan.line_of(line)   # read in order, done or not
                if line not in done:
                    if as_values:
                        unsent.append(RecordResult.from_line(orjson.loads(result)))
                    else:
                        copied.append((line, result))
                continue
            if done_before is not None and line in done_before:
                continue
            item = validate(line, raw, now)
            if type(item) is Invalid:
                unsent.append(outcomes.invalid(item))
                continue
            assert type(item) is Record
            hold = 0.0
            if line in sent_before:
                # Sent by an earlier session that died before it was final.
                item.attempts = sent_before[line]
                item.uncertain = line in ledger.maybe_applied
                if item.uncertain:
                    hold = settle_left(self.settle, ledger.journal.last_sent.get(line),
                                       time.time())
            while flow.full():
                flow.changed.set()   # let the dispatcher see what was admitted
                await flow.wait_change()
                if flow.over:
                    return False
            if marks is not None:
                marks.admit(item)   # marked pending, with its neighbours, before it leaves
            if flow.sched.admit(item, hold=hold > 0) and hold > 0:
                self._settle_first(item, hold)
        flow.changed.set()
        if copied:
            flow.copied(copied)
        if unsent:
            flow.final(unsent)
        return True

    def _settle_first(self, record: Record, left: float) -> None:
        """A record in flight when an earlier session died may still be applied:
        it (and so its customer) waits what is left of ``settle`` since it was
        sent (``sent.jsonl``'s ``t``); one sent longer ago than that goes at once."""
        self.resettled += 1
        if self.resettled == 1:
            self.log.info("resume.settling", settle_s=self.settle, left_s=round(left, 3))
        self.flow.later(left, [record])
