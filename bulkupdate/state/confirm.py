"""What a program's result confirms: the state it leaves, or nothing. Pure.

Only ``ok: true`` confirms what was sent; besides, a link answered 2005
confirms the customer linked (its tier unknown), a delink answered 2004
confirms it not linked. Any other end confirms nothing: the key stays pending."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..base.api import ALREADY_LINKED, LINK_TYPE
from .intent import DELINK_TYPE, RELINK_CANCEL, TIER_UPDATES, Intent, to_micros

NOT_LINKED = 2004


@dataclass(frozen=True, slots=True)
class Known:
    """A row's confirmed facts: linked (None: unknown), tier, expiry (µs)."""
    linked: bool | None
    tier: str | None
    expiry: int | None


def confirmed(intent: Intent, program: dict[str, Any], before: Known) -> Known | None:
    """The state ``program`` (one entry of a result's ``programs``) confirms
    for a row that held ``before``; None when it confirms nothing."""
    kind, code = intent.kind, program.get("code")
    if program.get("ok") is not True:
        if kind == LINK_TYPE and code == ALREADY_LINKED:
            return before if before.linked else Known(True, None, None)
        if kind == DELINK_TYPE and code == NOT_LINKED:
            return Known(False, None, None)
        return None
    if kind == DELINK_TYPE:
        return Known(False, None, None)
    if kind == LINK_TYPE:
        # A future-dated link queues a relink: what holds tonight is not known.
        return Known(None, None, None) if intent.future else \
            Known(True, intent.tier, to_micros(intent.expiry))
    if kind in TIER_UPDATES:
        if intent.expiry is not None:
            return Known(True, intent.tier, to_micros(intent.expiry))
        # Without an expiry the API keeps the tier's: known only if the tier stays.
        return Known(True, intent.tier, before.expiry if before.tier == intent.tier else None)
    if kind == RELINK_CANCEL:
        return before
    return Known(before.linked, None, None)   # a renewal initiation: tier and expiry move
