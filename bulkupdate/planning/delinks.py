"""What a delink night would do, and the guard a destructive call deserves.

:func:`delink_plan` counts, from a delink input's records, the customers and the
program memberships (customer, program) the night would delink: what
``bulkupdate delink`` prints before it sends, and what ``bulkupdate plan`` of a
delink file can print. Pure.

``--max-delinks N|P%`` (:class:`MaxDelinks`) refuses the night (exit 2, nothing
sent) when it would delink more: ``N`` program memberships in all, or, per
program, more than ``P%`` of the keys the state store holds linked in that
program. A share needs the store: :func:`store_linked_counts` is where its
counts come from (None until the store is wired), and without them ``P%`` is
refused with a message that says to give a count.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from ..errors import UsageError
from ..settings.values import count_or_share
from ..source.validate import Invalid, Record, validate_delink_line


@dataclass(frozen=True)
class DelinkPlan:
    customers: int = 0               # distinct customers (as the input names them)
    programs: int = 0                # distinct (customer, program) memberships to delink
    per_program: Mapping[str, int] = field(default_factory=dict)   # customers per program
    invalid: int = 0                 # lines that would not be sent

    def sentence(self) -> str:
        """``delink plan: 3 customers, 4 program memberships (A 3, B 1)``."""
        each = ", ".join(f"{name} {n}" for name, n in sorted(self.per_program.items()))
        text = (f"delink plan: {_plural(self.customers, 'customer')}, "
                f"{_plural(self.programs, 'program membership')} would be delinked")
        if each:
            text += f" ({each})"
        if self.invalid:
            text += f"; {_plural(self.invalid, 'invalid line')} not sent"
        return text


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def delink_plan(records: Iterable[Record | Invalid]) -> DelinkPlan:
    """The customers and memberships a delink input names (valid records only;
    a customer named twice, by the same identifiers, counts once)."""
    customers: set[tuple[str, ...]] = set()
    pairs: set[tuple[tuple[str, ...], str]] = set()
    per_program: Counter[str] = Counter()
    invalid = 0
    for record in records:
        if isinstance(record, Invalid):
            invalid += 1
            continue
        customers.add(record.keys)
        for name, _ in record.programs:
            if (record.keys, name) not in pairs:
                pairs.add((record.keys, name))
                per_program[name] += 1
    return DelinkPlan(len(customers), len(pairs), dict(per_program), invalid)


def plan_file(path: Path, now: datetime | None = None) -> DelinkPlan:
    """:func:`delink_plan` of a delink input file (JSONL, ``.gz`` or CSV)."""
    from ..source.lines import iter_lines

    when = now or datetime.now(UTC)
    return delink_plan(validate_delink_line(line, raw, when)
                       for line, raw in iter_lines(path, api="delink"))


STORE_BATCH = 500     # records per store lookup, as the plan pass does


def plan_to_send(path: Path, store: Any, now: datetime | None = None) -> DelinkPlan:
    """:func:`plan_file` less the records the state store calls ``unchanged`` (confirmed
    not linked in every program they name): what a guard over the store must count.
    A repeated delink night delinks nothing, and is not refused for the share of keys
    it already took out. Refresh is left out: re-sending a delink the store confirmed
    can only answer 2004."""
    from ..source.lines import iter_lines
    from ..state.intent import intents_of

    when = now or datetime.now(UTC)
    kept: list[Record | Invalid] = []
    batch: list[Record] = []

    def flush() -> None:
        items = [(r.keys, intents_of("delink", orjson.loads(r.body), when)) for r in batch]
        decisions = store.classify(items, now=when, refresh_after=None, full=False, note=False)
        kept.extend(r for r, d in zip(batch, decisions, strict=True) if d.send)
        batch.clear()

    for line, raw in iter_lines(path, api="delink"):
        record = validate_delink_line(line, raw, when)
        if isinstance(record, Invalid):
            kept.append(record)
            continue
        batch.append(record)
        if len(batch) >= STORE_BATCH:
            flush()
    if batch:
        flush()
    return delink_plan(kept)


@dataclass(frozen=True)
class MaxDelinks:
    """``N`` program memberships in all, or ``P%`` of those linked per program."""

    count: int | None = None
    percent: float | None = None

    @classmethod
    def parse(cls, text: str | int | MaxDelinks) -> MaxDelinks:
        if isinstance(text, MaxDelinks):
            return text
        parsed = count_or_share(text)
        if parsed is not None:
            return cls(*parsed)
        raise UsageError(f"--max-delinks {text!r} is not valid: use a number of program "
                         "memberships (e.g. 500) or a share of those linked (e.g. 10%)")

    def __str__(self) -> str:
        return f"{self.percent:g}%" if self.percent is not None else str(self.count)


DEFAULT_MAX_DELINKS_WITH_STORE = "10%"
"""With a state store, a delink night is guarded by default: at most this share of
the keys the store holds linked in each program."""


def check_max_delinks(plan: DelinkPlan, guard: MaxDelinks,
                      linked: Mapping[str, int] | None = None) -> None:
    """Refuse (exit 2) a plan beyond ``guard``. ``linked``: per program, the keys
    the state store holds linked there (needed for a ``P%`` guard)."""
    if guard.count is not None:
        if plan.programs > guard.count:
            raise UsageError(
                f"this input would delink {plan.programs:,} program memberships, more than "
                f"--max-delinks {guard.count:,}: nothing was sent; check the file, or raise "
                "--max-delinks if that many is right")
        return
    if linked is None:
        raise UsageError(f"--max-delinks {guard} is a share of the customers the state store "
                         "holds linked, and no state store is in use: give a count instead, "
                         "e.g. --max-delinks 500")
    assert guard.percent is not None
    for name, n in sorted(plan.per_program.items()):
        allowed = linked.get(name, 0) * guard.percent / 100
        if n > allowed:
            raise UsageError(
                f"this input would delink {n:,} customers from {name}, more than {guard} of "
                f"the {linked.get(name, 0):,} the state store holds linked there: nothing "
                "was sent; check the file, or raise --max-delinks")


def store_linked_counts(store: Any, programs: Iterable[str]) -> Mapping[str, int] | None:
    """Per program, the keys the state store holds linked there: what a ``P%``
    guard is a share of. None without a store (the guard then takes a count only)."""
    if store is None:
        return None
    held = store.summary()["programs"]
    return {name: int(held.get(name, {}).get("linked", 0)) for name in programs}
