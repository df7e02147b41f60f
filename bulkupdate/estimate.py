"""How long an input will take at the rate in force, said before the night.

The default ``--rate`` (100/min) is the cautious demo-cluster figure: 5 million
records at 50 a request take 16 h 40 min at it. ``run`` and ``validate`` say so
up front, with where the rate came from, and ``run.started`` carries the figure.

The estimate is the pace alone: ``ceil(records / batch_size)`` requests at
``--rate``. Retries, 429s and a slow server only add to it; a server limit lower
than ``--rate`` (see ``learned_rate``) stretches it in proportion.

Counting an input is one pass over it; :func:`count_once` remembers the count of
an unchanged file for the process, so that the command line's estimate and the
run's progress total read a large input once, not twice.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any, cast

from .settings import ENV_PREFIX, Rate, Settings
from .source.lines import count_records
from .words import plural

_COUNTED: dict[tuple[str, int, int, int], int | None] = {}


def count_once(path: Path) -> int | None:
    """:func:`~bulkupdate.source.count_records`, once per unchanged file."""
    key = _key(path)
    if key is None:
        return count_records(path)    # let it raise what the user should see
    if key not in _COUNTED:
        _COUNTED.clear()              # one input per process is the common case
        _COUNTED[key] = count_records(path)
    return _COUNTED[key]


def counted(path: Path) -> int | None:
    """The count :func:`count_once` already made of this unchanged file, or None:
    never a pass over the input (safe on the event loop)."""
    key = _key(path)
    return _COUNTED.get(key) if key is not None else None


def _key(path: Path) -> tuple[str, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return str(Path(path).resolve()), st.st_ino, st.st_size, st.st_mtime_ns


def default_rate() -> Rate:
    """``--rate`` when nothing sets it (Settings' own default)."""
    rate = next(f for f in fields(Settings) if f.name == "rate")
    return cast(Rate, cast(Any, rate.default_factory)())


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


def rate_source(flag: Any, env: Mapping[str, str], config: Mapping[str, Any],
                config_path: Path | None, resumed: Mapping[str, Any] | None = None) -> str:
    """Where the rate in force came from, strongest first (as settings merge them)."""
    if flag is not None:
        return "from --rate"
    if env.get(ENV_PREFIX + "RATE", "") != "":
        return f"from {ENV_PREFIX}RATE"
    if "rate" in config:
        return f"from the config file {config_path}"
    if resumed and resumed.get("rate") is not None:
        return "the run's own"
    return "the default; pass --rate"


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


def verify_reads(uncertain: int, ok: int, sample: int) -> int:
    """The reads ``verify`` makes: every uncertain record, and ``sample`` of the ok."""
    return uncertain + min(max(0, sample), ok)
