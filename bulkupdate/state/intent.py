"""What a record asks of each of its programs, as values the skip rule compares
with the store. Pure: no I/O, no clock.

An :class:`Intent` is one program entry of one record: an update (its type,
tier and expiry), a link (the reference's tier and expiry, and whether its
membership starts in the future) or a delink. Expiries are instants: two
spellings of one moment (``+05:30`` and ``Z``) are equal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import orjson

from ..base.api import LINK_PROGRAMS_KEY, LINK_TYPE

DELINK_TYPE = "DELINK"
DELINK_PROGRAMS_KEY = "deLinkFromPartnerPrograms"
RELINK_CANCEL = "MEMBERSHIP_RELINKING_CANCELLED"
RENEWAL_INITIATION = "MEMBERSHIP_RENEWAL_INITIATION"
TIER_UPDATES = frozenset({"UPGRADE", "DOWNGRADE", "RENEW"})


@dataclass(frozen=True, slots=True)
class Intent:
    program: str              # partnerProgramName
    kind: str                 # updateType, or "LINK" / "DELINK"
    tier: str | None          # updatedTierName / partnerTierName
    expiry: datetime | None   # tz-aware; compared as instants
    future: bool = False      # a link whose membership starts in the future


def intents_of(api: str, item: dict[str, Any], now: datetime | None = None) -> tuple[Intent, ...]:
    """The intents of one validated input item of ``api`` (``update``, ``link``,
    ``delink``). ``now`` decides whether a link's start date is in the future;
    without it every link with a start date counts as future-dated (sent)."""
    if api == "link":
        return tuple(_link(entry, now) for entry in item.get(LINK_PROGRAMS_KEY) or ())
    if api == "delink":
        return tuple(Intent(entry["partnerProgramName"], DELINK_TYPE, None, None)
                     for entry in item.get(DELINK_PROGRAMS_KEY) or ())
    return tuple(_update(entry) for entry in item.get("partnerProgramUpdates") or ())


def _update(entry: dict[str, Any]) -> Intent:
    details = entry.get("updateDetails") or {}
    tier = details.get("updatedTierName")
    return Intent(entry["partnerProgramName"], entry["updateType"],
                  tier.strip() if isinstance(tier, str) else None,
                  instant(details.get("updatedTierExpiryDate")))


def _link(entry: dict[str, Any], now: datetime | None) -> Intent:
    reference = entry.get("customerPartnerReference") or {}
    tier = reference.get("partnerTierName")
    start = instant(reference.get("membershipStartDate"))
    future = start is not None and (now is None or start > now)
    return Intent(entry["partnerProgramName"], LINK_TYPE,
                  tier.strip() if isinstance(tier, str) else None,
                  instant(reference.get("partnerTierExpiryDate")), future)


def instant(value: Any) -> datetime | None:
    """An ISO 8601 date-time with an offset as a UTC instant; None when absent.
    (Validation has already refused a malformed one.)"""
    return _instant(value) if isinstance(value, str) else None


@lru_cache(maxsize=4096)
def _instant(value: str) -> datetime | None:
    # A night's file repeats a few expiries a million times: each is parsed once.
    when = datetime.fromisoformat(value)
    return when.astimezone(UTC) if when.tzinfo is not None else None


def to_micros(when: datetime | None) -> int | None:
    """The instant as microseconds since the epoch: how the store keeps times."""
    if when is None:
        return None
    delta = when.astimezone(UTC) - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int | None) -> datetime | None:
    if micros is None:
        return None
    return EPOCH + timedelta(microseconds=micros)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def dump_intents(intents: tuple[Intent, ...]) -> str:
    """The intents as JSON text, as ``mark_pending`` stores them."""
    return orjson.dumps([[i.program, i.kind, i.tier, to_micros(i.expiry), i.future]
                         for i in intents]).decode()


def load_intents(text: str) -> tuple[Intent, ...]:
    return tuple(Intent(p, k, t, from_micros(e), bool(f)) for p, k, t, e, f in orjson.loads(text))


def keys_of(customer: Any) -> tuple[str, ...]:
    """A customer object's identity keys, as validation computes them
    (:attr:`bulkupdate.source.validate.Record.keys`), for a line read back from a run's
    input; nothing for what validation would refuse."""
    if not isinstance(customer, dict):
        return ()
    keys = []
    for name, value in customer.items():
        if name == "id":
            if type(value) is int and value > 0:
                keys.append(f"id:{value}")
        elif type(value) is not str or not value.strip():
            continue
        elif name == "mobile":
            keys.append("mobile:" + value.strip().lstrip("+"))
        elif name == "email":
            keys.append("email:" + value.strip().lower())
        elif name == "externalId":
            keys.append("externalId:" + value.strip())
    return tuple(keys)
