"""How long an input will take at the rate in force, said before the night.

The default ``--rate`` (100/min) is the cautious demo-cluster figure: 5 million
records at 50 a request take 16 h 40 min at it. ``run`` and ``validate`` say so
up front, with where the rate came from (:class:`~bulkupdate.settings.Sources`),
and ``run.started`` carries the figure.

The estimate is the pace alone: ``ceil(records / batch_size)`` requests at
``--rate``. Retries, 429s and a slow server only add to it; a server limit lower
than ``--rate`` (see ``learned_rate``) stretches it in proportion.

Counting an input is one pass over it: the command line counts it for its
estimate and hands the count to the run (``arun(..., records=N)``), so a large
input is read once for both, with no count kept in the process.
"""

from __future__ import annotations

import math

from ..base.words import plural
from ..settings import Rate


def seconds(records: int, rate: Rate, batch_size: int) -> float:
    """The time ``records`` take at ``rate``, ``batch_size`` a request, no retries."""
    return math.ceil(records / max(1, batch_size)) / rate.per_second


def duration(secs: float) -> str:
    """``16 h 40 min``, ``3 min 20 s``, ``12 s``."""
    secs = round(secs)
    if secs < 60:
        return f"{secs} s"
    hours, rest = divmod(secs, 3600)
    minutes, s = divmod(rest, 60)
    if hours >= 24:
        days, hours = divmod(hours, 24)
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min {s} s" if s and minutes < 10 else f"{minutes} min"


def sentence(records: int | None, rate: Rate, batch_size: int, source: str,
             unknown: str = "an input of unknown size") -> str:
    """``5,000,000 records at --rate 100/min (the default; pass --rate): about 16 h 40 min``"""
    at = f"at --rate {rate} ({source})"
    if records is None:
        return (f"{unknown} {at}: no estimate until it has been read "
                f"({seconds(1_000_000, rate, batch_size) / 3600:,.1f} h per million records)")
    return (f"{plural(records, 'record')} {at}, {batch_size} a request: about "
            f"{duration(seconds(records, rate, batch_size))} (more with retries and 429s)")


def verify_sentence(reads: int, rate: Rate) -> str:
    """What ``verify`` will take: one read per record, at the rate in force
    (reads count against the key's limit, as updates do)."""
    return (f"verify reads back {plural(reads, 'record')}, one read each, at --rate {rate}: "
            f"about {duration(reads / rate.per_second)} (more with retries and 429s)")


def verify_reads(uncertain: int, ok: int, sample: int, unchanged: int = 0) -> int:
    """The reads ``verify`` makes: every uncertain record, and ``sample`` of the ok
    (and, with a state store, ``sample`` of the ``unchanged``)."""
    return uncertain + min(max(0, sample), ok) + min(max(0, sample), unchanged)
