"""When a confirmed key is due to be sent again anyway (``--refresh-after``),
spread so that every night carries about the same share of the keys.

Each key has a phase in the period: ``frac(n * φ)`` of it, ``n`` the row's
insertion index (a low-discrepancy sequence: any stretch of consecutive rows
fills the period evenly, which a random hash only does on average). A key is
due at the slots ``phase + k * period`` (counted from the epoch), the first
one after it was confirmed: so it is never older than the period, and however
many keys one night confirmed, their refreshes fall on different nights. Pure:
time comes in as arguments (microseconds since the epoch)."""

from __future__ import annotations

GOLDEN = 0.6180339887498949   # frac(φ): the most evenly spread of such sequences


def phase(index: int, period: int) -> int:
    """Where in the period (microseconds from a slot) row ``index`` falls."""
    return int(((index * GOLDEN) % 1.0) * period)


def due_at(confirmed_at: int, index: int, period: int) -> int:
    """The first slot of row ``index`` strictly after ``confirmed_at``."""
    offset = (phase(index, period) - confirmed_at) % period
    return confirmed_at + (offset or period)


def is_due(confirmed_at: int | None, index: int, period: int | None, now: int) -> bool:
    """Whether a confirmed key must be sent again at ``now``; never without a
    period (``--refresh-after 0``). A key never confirmed has nothing to refresh."""
    if not period or confirmed_at is None:
        return False
    return now >= due_at(confirmed_at, index, period)
