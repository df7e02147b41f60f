"""Is this answer item about the customer that record sent? Pure.

The API answers each customer *as it stores it*: all four identifiers, a mobile
with its country code (sent ``9740000000``, answered ``919740000000``), an email
in its stored case. A client that compared the text it sent with the text it got
would call every such answer a mismatch and re-send updates the API had already
applied. So identifiers are compared the way the API reads them:

==============  ==============================================================
``id``          as an integer (``382741349`` and ``"382741349"`` agree)
``mobile``      by its digits (``+``, spaces, dashes ignored); one may be the
                other with a 1-3 digit country code in front
``email``       case-insensitively, trimmed
``externalId``  trimmed
==============  ==============================================================

An identifier that is absent or empty on either side says nothing. Any
identifier that disagrees means another customer, whatever else agrees.

:class:`Breaker` watches whether answers keep not lining up: a server that names
customers in a form we cannot read would otherwise have every record of the run
applied and reported ``retryable``.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from ..base.logs import mask_value

MIN_NATIONAL_DIGITS = 6   # a country code is only peeled off a real number, not "1" from "91"
MAX_COUNTRY_DIGITS = 3


def same_customer(sent: dict[str, Any], got: Any) -> bool | None:
    """True when an identifier of ``sent`` agrees with ``got`` and none disagrees;
    False when one disagrees; None when they name no identifier in common."""
    if type(got) is not dict:
        return None
    verdict: bool | None = None
    for name, value in sent.items():
        if value is None or value == "":
            continue
        other = got.get(name)
        if other is None or other == "":
            continue
        if other == value or _agree(name, value, other):
            verdict = True
        else:
            return False
    return verdict


def _agree(name: str, sent: Any, got: Any) -> bool:
    if name == "id":
        number = _as_int(got)
        return number is not None and number == _as_int(sent)
    if type(sent) is not str or type(got) is not str:
        return False
    if name == "mobile":
        return same_mobile(sent, got)
    if name == "email":
        return sent.strip().lower() == got.strip().lower()
    return sent.strip() == got.strip()


def _as_int(value: Any) -> int | None:
    if type(value) is int:
        return value
    if type(value) is str and value.strip().isdigit() and value.strip().isascii():
        return int(value)
    return None


def digits(text: str) -> str:
    if text.isdigit() and text.isascii():   # the usual case, at C speed
        return text
    return "".join(c for c in text if c.isdigit() and c.isascii())


def keys(customer: Any) -> list[tuple[str, Any]]:
    """Index keys under which two records of the same customer must meet: equal
    keys are necessary for :func:`same_customer`, not sufficient (a mobile's key
    is its last digits, which it shares with its form without a country code)."""
    if type(customer) is not dict:
        return []
    out: list[tuple[str, Any]] = []
    for name in _IDS:
        value = customer.get(name)
        if value is None or value == "":
            continue
        if name == "id":
            out.append((name, _as_int(value)))
        elif type(value) is str:
            if name == "mobile":
                out.append((name, digits(value)[-MIN_NATIONAL_DIGITS:]))
            else:
                out.append((name, value.strip().lower() if name == "email" else value.strip()))
    return out


def same_mobile(a: str, b: str) -> bool:
    """The same number, one perhaps with a country code the other lacks."""
    da, db = digits(a), digits(b)
    if not da or not db:
        return False
    if da == db:
        return True
    short, long = (da, db) if len(da) < len(db) else (db, da)
    return (len(short) >= MIN_NATIONAL_DIGITS
            and 1 <= len(long) - len(short) <= MAX_COUNTRY_DIGITS and long.endswith(short))


def describe_mismatch(sent: dict[str, Any], got: Any) -> str:
    """``sent mobile 97400…, answered mobile 91974…``, masked: the text reaches the
    ledger, the logs and the terminal. A mobile shows its first five digits, which
    tell a country code from none and say nothing of the person."""
    names = [k for k, v in sent.items() if v is not None and v != ""]
    if not names:
        return "sent no identifier"
    name = names[0]
    said = f"sent {name} {_shown(name, sent[name])}"
    if type(got) is not dict:
        return f"{said}, answered no customer for it"
    answered = [k for k, v in got.items() if k in _IDS and v is not None and v != ""]
    if not answered:
        return f"{said}, answered a customer without identifiers"
    other = name if name in answered else answered[0]
    return f"{said}, answered {other} {_shown(other, got[other])}"


def _shown(name: str, value: Any) -> str:
    text = str(value)
    if name == "mobile" and len(text) > 8:
        return text[:5] + "\u2026"
    return str(mask_value(name, text))


_IDS = ("id", "mobile", "email", "externalId")


class Breaker:
    """Trips when ``in_a_row`` answers in a row, or more than half of the last
    ``window``, did not line up with their requests."""

    def __init__(self, in_a_row: int = 3, window: int = 20) -> None:
        self.in_a_row = in_a_row
        self.window = window
        self._recent: deque[bool] = deque(maxlen=window)
        self._row = 0
        self._bad = 0

    def record(self, lined_up: bool) -> bool:
        """Note one answer; True when this one trips the breaker."""
        if len(self._recent) == self.window and not self._recent[0]:
            self._bad -= 1
        self._recent.append(lined_up)
        if lined_up:
            self._row = 0
            return False
        self._bad += 1
        self._row += 1
        return self._row >= self.in_a_row or self._bad * 2 > self.window

    @property
    def wary(self) -> bool:
        """Some recent answer did not line up: judge each answer before the next
        request leaves, so that a trip stops what would follow it."""
        return self._bad > 0

    @property
    def why(self) -> str:
        if self._row >= self.in_a_row:
            return f"{self._row} answers in a row"
        return f"{self._bad} of the last {len(self._recent)} answers"
