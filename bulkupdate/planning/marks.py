"""A run's side of the state store while it sends: pending marks before a request
leaves, confirmations from ``results.jsonl`` after each ledger fsync and at the
end of a session. ``results.jsonl`` is the authority: the store replays it from
the offset it last applied, so a kill between two steps loses nothing."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..rundir.files import RESULTS
from ..validate import Record
from .scan import intents


@dataclass(frozen=True)
class Marks:
    store: Any          # a bulkupdate.state.Store
    run_id: str
    api: str
    run_dir: Path
    # One connection serves the loop's marks and a worker thread's confirmations:
    # never both at once (a transaction is the connection's, not the thread's).
    lock: threading.Lock = field(default_factory=threading.Lock, compare=False)

    def pending(self, records: Sequence[Record]) -> None:
        """Durably mark the records' keys pending, before the request is journaled
        (and so before it leaves): a key whose request may have gone is never skipped."""
        now = datetime.now(UTC)
        entries = [(r.line, r.keys, intents(self.api, r, now)) for r in records]
        with self.lock:
            self.store.mark_pending(self.run_id, entries)

    def confirm(self) -> int:
        """Apply what ``results.jsonl`` holds beyond the store's offset (a thread's work)."""
        with self.lock:
            return int(self.store.apply_results(self.run_id, self.run_dir / RESULTS))

    async def confirm_async(self) -> int:
        return await asyncio.to_thread(self.confirm)
