"""The reader: input lines → validated records, admitted to the scheduler only
while the window (records ready or in flight) and the held bound (records
settling, in backoff, or behind their customer's earlier record) both have room
(see :mod:`.flow`), so memory does not grow with the input and held customers do
not stall the others. Invalid records go straight to the ledger; lines with a
result are skipped."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from ..capillary import outcomes
from ..source.lines import iter_lines
from ..validate import Invalid, Record, validate_line
from .flow import Flow

READ_SLICE = 64     # lines validated between two turns of the event loop


def settle_left(settle: float, last_sent: float | None, now: float) -> float:
    """Seconds a record an earlier session sent (at ``last_sent``, wall clock)
    must still wait before it goes again: what is left of ``settle``. The whole
    of it when the send time is unknown, or later than now (the clock went back)."""
    if last_sent is None or last_sent > now:
        return settle
    return max(0.0, settle - (now - last_sent))


class Reading(Flow):
    _resettled = 0     # records held because an earlier session left them in flight

    async def _read(self) -> None:
        lines = iter_lines(self.ledger.input_path)
        now = datetime.now(UTC)
        done, sent_before = self.ledger.done, self.ledger.sent_before
        last_sent = self.ledger.journal.last_sent
        stats = self.stats
        try:
            while not self._stopping and self._abort is None:
                # Small slices, then back to the loop: a loop busy validating
                # thousands of lines would wake the senders late. (A reader thread
                # was tried: GIL hand-offs cost more than they saved.)
                if self._disk is not None and not self._disk.ok.is_set():
                    # Invalid lines' results would pile up in memory unwritten.
                    await self._disk.ok.wait()
                    continue
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
                    hold = 0.0
                    if line in sent_before:
                        # Sent by an earlier session that died before it was final.
                        item.attempts = sent_before[line]
                        item.uncertain = line in self.ledger.maybe_applied
                        if item.uncertain:
                            hold = settle_left(self.retry.settle, last_sent.get(line),
                                               time.time())
                    while self._full():
                        self._changed.set()   # let the dispatcher see what was admitted
                        await self._wait_change()
                        if self._stopping or self._abort is not None:
                            return
                    if self.sched.admit(item, hold=hold > 0) and hold > 0:
                        self._settle_first(item, hold)
                self._changed.set()
                if invalid:
                    self._final(invalid)
                await asyncio.sleep(0)
        finally:
            self._eof = True
            self._changed.set()

    def _settle_first(self, record: Record, left: float) -> None:
        """A record in flight when an earlier session died may still be applied:
        it (and so its customer) waits what is left of ``settle`` since it was
        sent (``sent.jsonl``'s ``t``); one sent longer ago than that goes at once."""
        self._resettled += 1
        if self._resettled == 1:
            self.log.info("resume.settling", settle_s=self.retry.settle,
                          left_s=round(left, 3))
        self._later(left, [record])
