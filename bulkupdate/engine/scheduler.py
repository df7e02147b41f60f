"""Which records may go out next, and in which request. Pure: no clock, no I/O.

Two rules from the contract shape everything here:

* never two updates for the same customer in flight at once, and they reach the
  API in input order;
* never the same customer twice in one request.

Each identity key (``mobile:…``, ``id:…``) has a FIFO of the records that carry
it. A record is *eligible* when it heads the FIFO of every one of its keys; only
eligible records are in ``ready``. It keeps its place at the heads until its
outcome is final — through retries and backoff — so a later update for the same
customer cannot overtake it. Since records join every FIFO in input order, the
earliest pending record always heads all of its FIFOs: no deadlock.

A record behind another of its customer's records is *blocked*: it counts in
``blocked`` rather than among the records ready or in flight, so the pipeline
can bound the two apart (see :mod:`.flow`) — a customer held for ``settle`` must
not take the window's room from the others.

Customers named by different identifiers in different records (an id here, a
mobile there) cannot be recognised as one before the API answers; the README
says so.
"""

from __future__ import annotations

from collections import deque

from ..base.endpoint import UPDATE, Endpoint
from ..source.validate import Record


class Scheduler:
    def __init__(self) -> None:
        # key → its records in input order: the record itself while it is alone
        # (most customers, most of the time: a deque costs a 500-byte block, and
        # making one per record was a tenth of reading a line), a deque behind it.
        self._queues: dict[str, Record | deque[Record]] = {}
        self._ready: deque[Record] = deque()
        self.pending = 0          # admitted and not yet final (ready, in flight, waiting)
        self.blocked = 0          # admitted behind an earlier record of one of its keys

    def __len__(self) -> int:
        """Records that could be put in a request right now."""
        return len(self._ready)

    def admit(self, record: Record, *, hold: bool = False) -> bool:
        """Queue ``record`` behind its customers' earlier records. True when it
        heads every queue; with ``hold`` it then waits for :meth:`give_back`."""
        self.pending += 1
        eligible = True
        queues = self._queues
        for key in record.keys:
            queue = queues.get(key)
            if queue is None:
                queues[key] = record
                continue
            if not isinstance(queue, deque):
                queue = queues[key] = deque((queue,))
            queue.append(record)
            eligible = False
        if not eligible:
            self.blocked += 1
        elif not hold:
            self._ready.append(record)
        return eligible

    def take(self, limit: int) -> list[Record]:
        """Up to ``limit`` eligible records; no two share a key by construction."""
        ready = self._ready
        count = min(limit, len(ready))
        return [ready.popleft() for _ in range(count)]

    def give_back(self, records: list[Record]) -> None:
        """Records that must be sent again (after a split or a backoff wait).
        They go first: they are the oldest, and finishing them frees the window."""
        self._ready.extendleft(reversed(records))

    def finish(self, record: Record) -> None:
        """The record's outcome is final: release its keys to the next in line."""
        self.pending -= 1
        queues = self._queues
        for key in record.keys:
            queue = queues[key]
            if not isinstance(queue, deque):
                assert queue is record, "finish() called for a record that was not at the head"
                del queues[key]
                continue
            head = queue.popleft()
            assert head is record, "finish() called for a record that was not at the head"
            if not queue:
                del queues[key]
                continue
            nxt = queue[0]
            if all(_head(queues[k]) is nxt for k in nxt.keys):
                self.blocked -= 1
                self._ready.append(nxt)


def _head(queue: Record | deque[Record]) -> Record:
    return queue[0] if isinstance(queue, deque) else queue


def chunk_bodies(records: list[Record], endpoint: Endpoint = UPDATE) -> bytes:
    """The request body, joined from each record's bytes without re-serialising."""
    return endpoint.prefix() + b",".join(r.body for r in records) + b"]}"
