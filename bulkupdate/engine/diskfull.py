"""A full disk under the run directory is a condition to wait out, not a crash.

When the ledger cannot write (ENOSPC, EDQUOT), :class:`DiskWatch` takes over:
sending stops at once (senders wait on :attr:`DiskWatch.ok` before they journal a
request), the answers already received stay in the ledger's backlog in memory —
bounded, since nothing new is sent — and writing is tried again every
``RETRY_EVERY`` seconds for up to ``disk_wait``. When space returns the backlog is
written and the run carries on (``disk.ok``): nothing re-sent, nothing that had
an answer marked uncertain. When it does not, the run stops with
:class:`~bulkupdate.errors.DiskFull` (exit 3, resumable).

``disk.full`` and ``disk.ok`` are warnings, so they reach stderr even when the
events file, on the same disk, cannot take them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from ..base.logs import Logger
from ..errors import DiskFull, RunAborted
from ..rundir import Ledger
from ..rundir.files import free_bytes

RETRY_EVERY = 1.0   # seconds between two tries to write the backlog


class DiskWatch:
    def __init__(self, ledger: Ledger, log: Logger, wait: float,
                 give_up: Callable[[RunAborted], None], stopping: Callable[[], bool]) -> None:
        self.ledger = ledger
        self.log = log
        self.wait = wait
        self.ok = asyncio.Event()      # clear while the disk is full
        self.ok.set()
        self._give_up = give_up
        self._stopping = stopping
        self._full = asyncio.Event()   # the disk just filled up: start waiting it out
        self._since = 0.0
        self.gave_up = False
        ledger.on_full = self.noticed

    def noticed(self, exc: OSError) -> None:
        """The ledger's: a write was refused for want of space."""
        if not self.ok.is_set() or self.gave_up:
            return
        self.ok.clear()
        self._since = time.monotonic()
        self.log.warning("disk.full", path=exc.filename or str(self.ledger.dir),
                         error=exc.strerror, free_bytes=free_bytes(self.ledger.dir),
                         wait_s=self.wait, hint="sending paused; answers kept in memory")
        self._full.set()

    async def keep(self) -> None:
        """The watch's task, for the whole run."""
        while True:
            await self._full.wait()
            self._full.clear()
            await self._wait_out()

    async def _wait_out(self) -> None:
        while True:
            kept = len(self.ledger.backlog)
            if self.ledger.flush_backlog():
                self.log.warning("disk.ok", path=str(self.ledger.dir), lines_written=kept,
                                 waited_s=round(time.monotonic() - self._since, 3),
                                 free_bytes=free_bytes(self.ledger.dir))
                self.ok.set()
                return
            left = self._since + self.wait - time.monotonic()
            if left <= 0 or self._stopping():
                self.gave_up = True
                self._give_up(DiskFull(self.ledger.dir))
                self.ok.set()   # the senders waiting see the abort, and send nothing
                return
            await asyncio.sleep(min(RETRY_EVERY, left))

    async def settled(self) -> None:
        """Until the disk took everything, or the wait ran out."""
        await self.ok.wait()
