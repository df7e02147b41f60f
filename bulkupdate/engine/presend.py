"""What a request goes through before it leaves: its customers marked pending in
the state store (``--state``), then its line in ``sent.jsonl``, held while the
disk is full (:mod:`.diskfull`). Taken out of :class:`~.pipeline.Pipeline`: a
step of one request, with no state of its own."""

from __future__ import annotations

from ..planning.marks import Marks
from ..source.validate import Record
from .diskfull import DiskWatch
from .flow import Flow
from .throttle import Throttle


async def journal(records: list[Record], sent_at: float, flow: Flow, disk: DiskWatch,
                  throttle: Throttle, marks: Marks | None) -> tuple[str, float] | None:
    """(request id, grant time) once the request is in ``sent.jsonl``; None when
    it must not leave. A full disk holds it here, slot and all, so nothing else
    leaves either; the pacer's grant is asked again afterwards, as it went stale."""
    lines = [r.line for r in records]
    while True:
        if marks is not None and await marks.before_sending(records):
            # Pending in the store before sent.jsonl; marking took a commit (records
            # admitted during the grant's wait): that grant went stale, ask again.
            sent_at = await throttle.acquire()
        if disk.ok.is_set():
            req = flow.ledger.record_sent(lines, sent_at)
            if req is not None:
                return req, sent_at
        await disk.ok.wait()
        if flow.over:
            return None
        sent_at = await throttle.acquire()
