"""A run's side of the state store while it sends: pending marks before a request
leaves, confirmations from ``results.jsonl`` after each ledger fsync and at the
end of a session. ``results.jsonl`` is the authority: the store replays it from
the offset it last applied, so a kill between two steps loses nothing.

A mark is a durable commit (an fsync): one per request would cap the rate at what
the disk commits per second. So the reader :meth:`~Marks.admit`\\ s each record it
hands to the scheduler, and the first request that needs a mark marks everything
admitted so far in one commit, in a worker thread: every key is still marked
before its request is journaled and leaves (a mark for a record a killed session
never sent only makes the next night send it: where in doubt, send)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..rundir.files import RESULTS
from ..source.validate import Record
from .scan import intents


class Marks:
    def __init__(self, store: Any, run_id: str, api: str, run_dir: Path) -> None:
        self.store = store          # a bulkupdate.state.Store
        self.run_id = run_id
        self.api = api
        self.run_dir = run_dir
        self._admitted: list[Record] = []   # handed to the scheduler, not marked yet
        # One connection serves the marks and a worker thread's confirmations: never
        # both at once (a transaction is the connection's, not the thread's).
        self._db = threading.Lock()
        self._marking = asyncio.Lock()
        self.commits = 0

    def admit(self, record: Record) -> None:
        if not record.marked:
            self._admitted.append(record)

    async def flush(self) -> None:
        """Mark everything admitted so far: the dispatcher's step before it asks the
        pacer for a grant, so that a commit's time never delays a granted request."""
        if self._admitted:
            await self.before_sending(())

    async def before_sending(self, records: Sequence[Record]) -> bool:
        """Return once every record of ``records`` is durably marked pending; True
        when that took a commit (a grant taken before it has gone stale)."""
        async with self._marking:   # one commit at a time; the next waits, then finds its own
            if all(r.marked for r in records) and (records or not self._admitted):
                return False
            batch = [*self._admitted, *(r for r in records if not r.marked)]
            self._admitted = []
            now = datetime.now(UTC)
            entries = [(r.line, r.keys, intents(self.api, r, now))
                       for r in {id(r): r for r in batch if not r.marked}.values()]
            if entries:
                await asyncio.to_thread(self._mark, entries)
            for record in batch:
                record.marked = True
            return True

    def _mark(self, entries: list[tuple[int, tuple[str, ...], tuple[Any, ...]]]) -> None:
        with self._db:
            self.store.mark_pending(self.run_id, entries)
            self.commits += 1

    def confirm(self) -> int:
        """Apply what ``results.jsonl`` holds beyond the store's offset (a thread's work)."""
        with self._db:
            return int(self.store.apply_results(self.run_id, self.run_dir / RESULTS))

    async def confirm_async(self) -> int:
        return await asyncio.to_thread(self.confirm)
