"""What a night with the state store will send, counted from the store's
decisions (:meth:`Tally.add`, one per valid record), said in a few lines
(:func:`describe`) and held to ``--max-changes``/``--max-missing``
(:func:`refusal`). Pure: the pass that reads the file and asks the store is
:mod:`.scan`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..base.words import plural
from ..settings import Rate
from ..settings.values import Allowance
from .estimate import duration, seconds

# The store's categories, in the order the plan says them.
SENT_CATEGORIES = ("new", "changed", "pending", "expired", "refresh", "never", "ambiguous",
                   "full")
REPEAT = "repeat"   # the customer was named earlier in the file: sent (seen.py)
LABELS = {"new": "new keys", "changed": "changed", "pending": "pending from earlier nights",
          "expired": "expired", "refresh": "due for refresh", "never": "never skipped "
          "(relink cancel, renewal initiation, RENEW without expiry, future link)",
          "ambiguous": "identity not one known customer", "full": "--full",
          REPEAT: "customer named earlier in the file"}


class DecisionLike(Protocol):
    """What the plan reads of a :class:`bulkupdate.state.Decision`."""

    @property
    def send(self) -> bool: ...
    @property
    def category(self) -> str: ...
    @property
    def transitions(self) -> tuple[tuple[str, str | None, str | None], ...]: ...
    @property
    def rejected_last(self) -> bool: ...


@dataclass
class Tally:
    """The night's figures, counted record by record."""

    records: int = 0          # valid records: the keys the file names
    invalid: int = 0
    send: int = 0
    categories: Counter[str] = field(default_factory=Counter)
    programs: Counter[str] = field(default_factory=Counter)   # changed, by program
    transitions: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    rejected_last: int = 0
    absent: dict[str, int] = field(default_factory=dict)       # by program

    def add(self, decision: DecisionLike, repeated: bool) -> bool:
        """Count one valid record; whether it is sent."""
        self.records += 1
        send = decision.send or repeated
        category = REPEAT if repeated and not decision.send else decision.category
        self.categories[category] += 1
        self.send += send
        self.rejected_last += decision.rejected_last
        if category == "changed":
            for program, old, new in decision.transitions:
                self.programs[program] += 1
                if old != new:
                    self.transitions[(program, old or "-", new or "-")] += 1
        return send

    @property
    def unchanged(self) -> int:
        return self.records - self.send

    @property
    def missing(self) -> int:
        return sum(self.absent.values())

    def to_dict(self) -> dict[str, Any]:
        return {"records": self.records, "invalid": self.invalid, "send": self.send,
                "unchanged": self.unchanged, "categories": dict(self.categories),
                "changed_by_program": dict(self.programs),
                "transitions": [[p, o, n, c] for (p, o, n), c in
                                self.transitions.most_common()],
                "rejected_last": self.rejected_last, "absent": dict(self.absent)}


def describe(t: Tally, rate: Rate, batch_size: int) -> list[str]:
    """The plan as a few lines for a person: the run's first lines, ``bulkupdate plan``."""
    out = [f"plan: {t.records:,} records ({t.invalid:,} invalid): {t.send:,} to send, "
           f"{t.unchanged:,} unchanged"]
    for name in (*SENT_CATEGORIES, REPEAT):
        if t.categories.get(name):
            out.append(f"  {LABELS[name]:<36} {t.categories[name]:>12,}")
    for program, count in t.programs.most_common(20):
        out.append(f"    changed in {program:<24} {count:>12,}")
    for (program, old, new), count in t.transitions.most_common(20):
        out.append(f"      {program}: {old} → {new} {count:,}")
    if t.rejected_last:
        out.append(f"  {'rejected last time':<36} {t.rejected_last:>12,}")
    missing = t.missing
    out.append(f"  {'in the store, absent from this file':<36} {missing:>12,}"
               + ("" if not missing else "  (" + ", ".join(
                   f"{p} {n:,}" for p, n in sorted(t.absent.items())) + ")"))
    secs = seconds(t.send, rate, batch_size)
    out.append(f"  about {duration(secs)} at {rate} ({plural(-(-t.send // batch_size), 'request')}"
               f" of up to {batch_size})")
    return out


def refusal(t: Tally, max_changes: Allowance | None,
            max_missing: Allowance | None) -> str | None:
    """Why the night must not start, or None: ``--max-changes`` counts the records to
    send (new keys too) against N or P% of the records the file names;
    ``--max-missing`` the keys the store holds that the file does not name, against
    N or P% of the keys the store holds (tonight's known ones and the absent)."""
    if max_changes is not None and t.send > max_changes.allowed(t.records):
        return (f"--max-changes {max_changes}: {t.send:,} of {t.records:,} records would be "
                f"sent (at most {_limit(max_changes, t.records)}); nothing was sent")
    held = t.records - t.categories.get("new", 0) + t.missing
    if max_missing is not None and t.missing > max_missing.allowed(held):
        return (f"--max-missing {max_missing}: {t.missing:,} keys the store holds are absent "
                f"from the file (at most {_limit(max_missing, held)} of {held:,}); "
                "nothing was sent")
    return None


def _limit(limit: Allowance, base: int) -> str:
    return f"{limit.allowed(base):,.0f}"
