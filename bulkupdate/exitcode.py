"""The exit policy of a finished run: which not-``ok`` records a night may have
and still count as a normal night. Pure.

A run exits 0 when every record is ``ok``, or when every record that is not is
*definite* — ``rejected``, ``partial`` or ``invalid``: the API (or validation)
gave its final word — and there are no more of them than ``--allow-failures``
(a count ``N`` or a share ``P%`` of the input records). A ``retryable`` record
always exits 1: nobody knows what became of it, and ``retry.jsonl`` waits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import UsageError

DEFINITE_FAILURES = ("partial", "rejected", "invalid")


@dataclass(frozen=True)
class Allowance:
    count: int = 0
    percent: float | None = None   # when given as P%

    def allowed(self, records: int) -> float:
        if self.percent is None:
            return self.count
        return records * self.percent / 100


def parse_allowance(text: str | int) -> Allowance:
    """``"0"``, ``"25"`` (records) or ``"0.5%"`` (of the input records)."""
    raw = str(text).strip()
    try:
        if raw.endswith("%"):
            percent = float(raw[:-1])
            if 0 <= percent <= 100:
                return Allowance(percent=percent)
        else:
            count = int(raw)
            if count >= 0:
                return Allowance(count=count)
    except ValueError:
        pass
    raise UsageError(f"allow-failures {text!r} is not valid: use a number of records (e.g. 25) "
                     "or a share of the input (e.g. 0.5%)")


def finished_exit_code(summary: dict[str, Any], allow_failures: str | int = "0") -> int:
    """0 or 1 for a run whose session ended normally (``summary.json``'s figures)."""
    outcomes = summary["outcomes"]
    records = summary["input_records"] or 0
    if not summary.get("complete"):
        return 1
    if outcomes.get("ok", 0) == records:
        return 0
    if outcomes.get("retryable", 0):
        return 1
    # Everything not ok is one of DEFINITE_FAILURES here; counted from the total,
    # so a summary missing an outcome can never pass for a clean one.
    failures = records - outcomes.get("ok", 0)
    return 0 if failures <= parse_allowance(allow_failures).allowed(records) else 1
