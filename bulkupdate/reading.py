"""The reader: input lines → validated records, admitted to the scheduler only
while fewer than ``window`` are pending, so memory does not grow with the input.
Invalid records go straight to the ledger; lines with a result are skipped."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from . import outcomes
from .flow import Flow
from .source import iter_lines
from .validate import Invalid, Record, validate_line

READ_SLICE = 64     # lines validated between two turns of the event loop


class Reading(Flow):
    _resettled = 0     # records held because an earlier session left them in flight

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
                    if self.sched.admit(item, hold=item.uncertain) and item.uncertain:
                        self._settle_first(item)
                self._changed.set()
                if invalid:
                    self._final(invalid)
                await asyncio.sleep(0)
        finally:
            self._eof = True
            self._changed.set()

    def _settle_first(self, record: Record) -> None:
        """A record in flight when an earlier session died may still be applied:
        it (and so its customer) waits ``settle`` from now, which is later than
        from when it was sent."""
        self._resettled += 1
        if self._resettled == 1:
            self.log.info("resume.settling", settle_s=self.retry.settle)
        self._later(self.retry.settle, [record])
