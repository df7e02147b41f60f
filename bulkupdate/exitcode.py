"""The exit code of a run, decided here and nowhere else; and the policy of a
finished run: which not-``ok`` records a night may have and still count as a
normal night. Pure.

=====  ============================================================
0      every record ``ok`` (or only definite failures within the allowance)
1      finished; some records are not ``ok`` (see the ledger)
2      usage or configuration error, found before anything was sent
3      aborted by a fatal API condition; ``bulkupdate resume`` finishes it
130    interrupted by SIGINT/SIGTERM after draining; resumable
=====  ============================================================

A run exits 0 when every record is ``ok``, or when every record that is not is
*definite* — ``rejected``, ``partial`` or ``invalid``: the API (or validation)
gave its final word — and there are no more of them than ``--allow-failures``
(an :class:`Allowance`: a count ``N`` or a share ``P%`` of the input records).
A ``retryable`` record always exits 1: nobody knows what became of it, and
``retry.jsonl`` waits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .capillary.outcomes import Outcome
from .errors import UsageError

EXIT_OK, EXIT_NOT_OK, EXIT_USAGE, EXIT_ABORTED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
# What `bulkupdate resume` finishes.
RESUMABLE = frozenset({EXIT_ABORTED, EXIT_INTERRUPTED})
DEFINITE_FAILURES = (Outcome.PARTIAL, Outcome.REJECTED, Outcome.INVALID)


@dataclass(frozen=True)
class Allowance:
    """Definite failures a run may have and still exit 0: ``count`` records, or
    ``percent`` of the input records when given as ``P%``. Parsed once, from any
    source, by :meth:`parse`; ``str()`` gives back the text it was written as."""

    count: int = 0
    percent: float | None = None   # when given as P%

    @classmethod
    def parse(cls, text: str | int | Allowance) -> Allowance:
        """``"0"``, ``"25"``, ``25`` (records) or ``"0.5%"`` (of the input records)."""
        if isinstance(text, Allowance):
            return text
        raw = str(text).strip()
        try:
            if isinstance(text, bool):
                raise ValueError(text)
            if raw.endswith("%"):
                percent = float(raw[:-1])
                if 0 <= percent <= 100:
                    return cls(percent=percent)
            else:
                count = int(raw)
                if count >= 0:
                    return cls(count=count)
        except ValueError:
            pass
        raise UsageError(f"allow-failures {text!r} is not valid: use a number of records "
                         "(e.g. 25) or a share of the input (e.g. 0.5%)")

    def allowed(self, records: int) -> float:
        if self.percent is None:
            return self.count
        return records * self.percent / 100

    def __str__(self) -> str:
        if self.percent is None:
            return str(self.count)
        return f"{self.percent:g}%"


def parse_allowance(text: str | int | Allowance) -> Allowance:
    """:meth:`Allowance.parse` (the name older code imports)."""
    return Allowance.parse(text)


def decide(summary: Mapping[str, Any], allowance: Allowance | str | int = Allowance(), *,
           aborted: bool = False, interrupted: bool = False) -> int:
    """The exit code of a run or resume whose session has closed: 3 if it was
    aborted, 130 if interrupted, else 0 or 1 from ``summary.json``'s figures."""
    if aborted:
        return EXIT_ABORTED
    if interrupted:
        return EXIT_INTERRUPTED
    return finished_exit_code(summary, allowance)


def finished_exit_code(summary: Mapping[str, Any],
                       allowance: Allowance | str | int = Allowance()) -> int:
    """0 or 1 for a run whose session ended normally (``summary.json``'s figures)."""
    outcomes = summary["outcomes"]
    records = summary["input_records"] or 0
    if not summary.get("complete"):
        return EXIT_NOT_OK
    if outcomes.get(Outcome.OK, 0) == records:
        return EXIT_OK
    if outcomes.get(Outcome.RETRYABLE, 0):
        return EXIT_NOT_OK
    # Everything not ok is one of DEFINITE_FAILURES here; counted from the total,
    # so a summary missing an outcome can never pass for a clean one.
    failures = records - outcomes.get(Outcome.OK, 0)
    allowed = Allowance.parse(allowance).allowed(records)
    return EXIT_OK if failures <= allowed else EXIT_NOT_OK
