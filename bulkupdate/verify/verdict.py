"""One record against what the API holds now → a verdict. Pure.

=================  ============================================================
``matches``        every program update of the record is in the state it asked
                   for: the tier name, and the expiry as an *instant* (the API
                   answers UTC, ``…Z``; the input wrote ``+05:30``)
``differs``        at least one is not; the line shows asked and held
``unverifiable``   an update type no read can show (a relink cancel, a renewal
                   initiation: no documented read shows a pending relink), a
                   program absent from the answer, or a customer the API does
                   not know: said so, never guessed
``failed``         the read did not succeed after retries (the reason)
``superseded``     a later input line updated the same customer's program: the
                   state belongs to that line, which is the one compared
=================  ============================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..capillary.read import ProgramState, parse_instant

VERDICTS = ("matches", "differs", "unverifiable", "failed", "superseded")
UNREADABLE_TYPES = frozenset({"MEMBERSHIP_RELINKING_CANCELLED", "MEMBERSHIP_RENEWAL_INITIATION"})


@dataclass(frozen=True)
class Verdict:
    verdict: str
    reason: str = ""
    programs: list[dict[str, Any]] = field(default_factory=list)


def judge(updates: Any, held: dict[str, ProgramState]) -> Verdict:
    """The record's ``partnerProgramUpdates`` against the programs read back."""
    if type(updates) is not list or not updates:
        return Verdict("unverifiable", "the record has no program updates")
    shown: list[dict[str, Any]] = []
    unverifiable: list[str] = []
    differs = False
    for update in updates:
        name = update.get("partnerProgramName") if type(update) is dict else None
        kind = update.get("updateType") if type(update) is dict else None
        details = update.get("updateDetails") if type(update) is dict else None
        details = details if type(details) is dict else {}
        if kind in UNREADABLE_TYPES:
            unverifiable.append(f"{name}: {kind} is not shown by any documented read")
            shown.append({"partnerProgramName": name, "updateType": kind, "state": "unverifiable"})
            continue
        state = held.get(name) if type(name) is str else None
        if state is None:
            unverifiable.append(f"{name}: not in the answer")
            shown.append({"partnerProgramName": name, "updateType": kind, "state": "absent"})
            continue
        ok, line = _compare(str(name), kind, details, state)
        differs = differs or not ok
        shown.append(line)
    if unverifiable:
        return Verdict("unverifiable", "; ".join(unverifiable), shown)
    return Verdict("differs" if differs else "matches", "", shown)


def _compare(name: str, kind: Any, details: dict[str, Any],
             state: ProgramState) -> tuple[bool, dict[str, Any]]:
    want_tier = details.get("updatedTierName")
    want_expiry = details.get("updatedTierExpiryDate")
    ok = want_tier is None or want_tier == state.tier
    if want_expiry is not None:
        wanted = parse_instant(want_expiry)
        ok = ok and wanted is not None and wanted == state.expiry
    line: dict[str, Any] = {"partnerProgramName": name, "updateType": kind,
                            "state": "matches" if ok else "differs"}
    if not ok:
        line["asked"] = {"tier": want_tier, "expiry": want_expiry}
        line["held"] = {"tier": state.tier, "expiry": state.expiry_text, "linked": state.linked}
    return ok, line
