"""``verify`` with a state store (``--state``, or the run's own from its manifest):
a ``matches`` verdict confirms the record's keys in the store (the API holds what
it asked for, however its answer was lost), and a customer the store called
``unchanged`` that reads back ``differs`` has drifted behind the tool's back: it
is reported and forgotten, so the next night sends it.

``--sample N`` with a store also reads back N of the run's ``unchanged`` records
(:func:`~.select.pick_lines`): what the store says those customers hold."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..planning.night import open_store_for
from ..planning.scan import intents
from ..settings import Settings
from ..source.validate import Record, validator
from .select import Chosen
from .verdict import Verdict

DRIFT = "unchanged"   # the why of a record sampled among the unchanged


def open_check(settings: Settings, manifest: dict[str, Any]) -> StoreCheck | None:
    """The run's state store (``--state`` or its manifest's), caught up with the
    ledgers; None without one, or for a run the store never registered."""
    store = open_store_for(settings)
    if store is None:
        return None
    from ..state import StateError

    run_id = str(manifest["run_id"])
    try:
        store.seq(run_id)
    except StateError:   # a run made without this store: nothing of it to confirm
        store.close()
        return None
    return StoreCheck(store, run_id, str(manifest.get("api", "update")))


@dataclass
class StoreCheck:
    store: Any          # a bulkupdate.state.Store
    run_id: str
    api: str
    drift: list[int] = field(default_factory=list)   # lines found drifted
    confirmed: int = 0

    def judged(self, item: Chosen, verdict: Verdict) -> None:
        now = datetime.now(UTC)
        record = validator(self.api)(item.line, item.raw, now)
        if type(record) is not Record:
            return
        if verdict.verdict == "matches":
            self.store.confirm_verified(self.run_id, record.keys, None,
                                        intents(self.api, record, now))
            self.confirmed += 1
        elif verdict.verdict == "differs" and item.why == DRIFT:
            self.drift.append(item.line)
            for key in record.keys:
                self.store.forget_customer(key)

    def close(self) -> None:
        self.store.close()
