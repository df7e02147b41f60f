"""The skip rule: whether a record would leave the store's confirmed state
exactly as it is (``unchanged``: not sent) or why it goes out. Pure: the rows,
the intents and the time come in as arguments.

A record is unchanged only when every one of its programs is, against a row
that is confirmed and not pending:

- UPGRADE/DOWNGRADE/RENEW: the key confirmed linked, the same tier, and the
  same expiry as an instant; without an expiry, only when the confirmed expiry
  is known and more than 48 h away (RENEW without an expiry is always sent);
- a link to a program confirmed linked (whatever its reference says), unless
  its membership starts in the future;
- a delink of a program confirmed not linked.

Never skipped: MEMBERSHIP_RELINKING_CANCELLED, MEMBERSHIP_RENEWAL_INITIATION,
a key whose confirmed expiry has passed, a key due for refresh, anything under
``--full``. One changed program sends the whole record. Where in doubt, send."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..base.api import LINK_TYPE
from .intent import DELINK_TYPE, RELINK_CANCEL, RENEWAL_INITIATION, Intent, to_micros
from .refresh import is_due

MARGIN = 48 * 3600 * 1_000_000     # an update without expiry: the confirmed one this far away
NEVER_KINDS = frozenset({RELINK_CANCEL, RENEWAL_INITIATION})
# Which category a record takes when its programs differ: the first that applies.
ORDER = ("pending", "changed", "never", "expired", "refresh", "unchanged")
RANK = {category: rank for rank, category in enumerate(ORDER)}


@dataclass(frozen=True, slots=True)
class StoredRow:
    """One (customer, program) row of the store."""
    program: str
    index: int                     # insertion index: the refresh phase
    linked: bool | None            # None: not known
    tier: str | None
    expiry: int | None             # microseconds since the epoch (UTC)
    confirmed_at: int | None
    pending: int | None            # seq of the run that marked it pending
    rejected: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    send: bool
    category: str
    customer_id: int | None
    transitions: tuple[tuple[str, str | None, str | None], ...] = ()
    rejected_last: bool = False


@dataclass(frozen=True, slots=True)
class Clock:
    """What a night's decisions share, in the store's units."""
    now: int                       # microseconds since the epoch
    period: int | None             # the refresh period, or None: never
    full: bool = False

    @classmethod
    def of(cls, now: datetime, refresh_after: timedelta | None, full: bool) -> Clock:
        period = None if not refresh_after else int(refresh_after / timedelta(microseconds=1))
        micros = to_micros(now)
        assert micros is not None
        return cls(micros, period, full)


def decide_customer(customer_id: int, rows: Mapping[str, StoredRow],
                    intents: tuple[Intent, ...], clock: Clock) -> Decision:
    """The decision for a record whose identifiers all name ``customer_id``;
    ``rows`` are that customer's rows by program."""
    best = RANK["changed"] if not intents else len(ORDER) - 1
    transitions = []
    rejected = False
    for intent in intents:
        row = rows.get(intent.program)
        best = min(best, RANK[_program(row, intent, clock)])
        old = row.tier if row is not None and row.linked else None
        if intent.tier is not None and intent.tier != old:
            transitions.append((intent.program, old, intent.tier))
        rejected = rejected or (row is not None and row.rejected)
    category = "full" if clock.full else ORDER[best]
    return Decision(category != "unchanged", category, customer_id, tuple(transitions), rejected)


def skip_decision(customer_id: int, rows: Mapping[str, StoredRow],
                  intents: tuple[Intent, ...], *, now: datetime,
                  refresh_after: timedelta | None, full: bool) -> Decision:
    """:func:`decide_customer` with the clock given as the CLI has it."""
    return decide_customer(customer_id, rows, intents, Clock.of(now, refresh_after, full))


def _program(row: StoredRow | None, intent: Intent, clock: Clock) -> str:
    """One program's category: unchanged only when its row says so."""
    kind = intent.kind
    if kind in NEVER_KINDS or (kind == "RENEW" and intent.expiry is None) or \
            (kind == LINK_TYPE and intent.future):
        return "never"
    if row is None or (row.confirmed_at is None and row.pending is None):
        return "changed"
    if row.pending is not None:
        return "pending"
    if kind == DELINK_TYPE:
        if row.linked is not False:
            return "changed"
    elif row.linked is not True:
        return "changed"   # an update or a link on a key not known linked
    elif row.expiry is not None and row.expiry <= clock.now:
        return "expired"
    elif kind != LINK_TYPE and not _same_tier(row, intent, clock.now):
        return "changed"
    if is_due(row.confirmed_at, row.index, clock.period, clock.now):
        return "refresh"
    return "unchanged"


def _same_tier(row: StoredRow, intent: Intent, now: int) -> bool:
    if intent.tier is None or intent.tier != row.tier:
        return False
    if intent.expiry is not None:
        return _micros(intent.expiry) == row.expiry
    return row.expiry is not None and row.expiry - now > MARGIN


_MICROS: dict[datetime, int | None] = {}


def _micros(when: datetime) -> int | None:
    """:func:`to_micros`, remembered: a night's file repeats a few expiries a million times."""
    found = _MICROS.get(when)
    if found is None:
        if len(_MICROS) > 10_000:
            _MICROS.clear()
        found = _MICROS[when] = to_micros(when)
    return found
