"""The plan pass: the whole input, once, before anything is sent. Each line is
validated, its program updates become intents, and the store decides in
batches of :data:`BATCH` records (one or two queries each, never one per line).

With ``out`` (a run directory), the pass leaves what the send pass needs so that
no line is validated twice for what the plan already settled (:mod:`.files`):
``plan.skip``, a bit per input line set for the lines not to send, and
``plan.unchanged.jsonl``, their ready-made results in input order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import orjson

from ..capillary import outcomes
from ..source.lines import iter_lines
from ..source.validate import Invalid, Record, validator
from .files import PlanWriter
from .seen import Seen
from .tally import DecisionLike, Tally

BATCH = 500          # records per classify call


class Classifier(Protocol):
    """What the pass asks of a :class:`bulkupdate.state.Store`."""

    def classify(self, items: Sequence[tuple[tuple[str, ...], tuple[Any, ...]]], *,
                 now: datetime, refresh_after: timedelta | None,
                 full: bool) -> Sequence[DecisionLike]: ...

    def absent(self) -> dict[str, int]: ...


def intents(api: str, record: Record, now: datetime) -> tuple[Any, ...]:
    """The store's intents of a valid record (its API item, serialised once)."""
    from ..state.intent import intents_of

    return intents_of(api, orjson.loads(record.body), now)


def plan_pass(path: Path, api: str, store: Classifier, *, now: datetime,
              refresh_after_days: int, full: bool, lines_hint: int | None,
              out: Path | None = None) -> Tally:
    """Read ``path`` once, count what a night with ``store`` sends; with ``out``,
    write the plan files there (the send pass reads them)."""
    tally = Tally()
    validate = validator(api)
    refresh = timedelta(days=refresh_after_days) if refresh_after_days else None
    seen = Seen(2 * (lines_hint or 100_000))
    writer = PlanWriter(out) if out is not None else None
    batch: list[tuple[Record, tuple[Any, ...]]] = []

    def flush() -> None:
        decisions = store.classify([(r.keys, i) for r, i in batch], now=now,
                                   refresh_after=refresh, full=full)
        for (record, _), decision in zip(batch, decisions, strict=True):
            customer_id = getattr(decision, "customer_id", None)
            # The id the store resolved stands for every identifier of the customer
            # (one probe, not one per identifier); an unknown customer's own keys else.
            keys = record.keys if customer_id is None else (f"id:{customer_id}",)
            if not tally.add(decision, seen.named_before(keys)) and writer is not None:
                writer.skip(record.line, outcomes.unchanged(record, customer_id).to_dict())
        batch.clear()

    try:
        for line, raw in iter_lines(path, api=api):
            item = validate(line, raw, now)
            if type(item) is Invalid:
                tally.invalid += 1
                continue
            assert type(item) is Record
            batch.append((item, intents(api, item, now)))
            if len(batch) >= BATCH:
                flush()
        if batch:
            flush()
        tally.absent = dict(store.absent())   # after the whole file: what it never named
        if writer is not None:
            writer.finish()
    finally:
        if writer is not None:
            writer.close()
    return tally
