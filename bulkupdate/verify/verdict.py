"""One record against what the API holds now → a verdict. Pure.

=================  ============================================================
``matches``        every program of the record is in the state it asked for
                   (update: the tier name, and the expiry as an *instant* — the
                   API answers UTC, ``…Z``, the input wrote ``+05:30``; link:
                   linked, with the reference's tier and expiry; delink: not
                   linked)
``differs``        at least one is not; the line shows asked and held
``unverifiable``   what no read can show (a relink cancel, a renewal initiation,
                   a future-dated link: no documented read shows a pending
                   relink), a program absent from an answer that may not list
                   them all, or a customer the API does not know: said so,
                   never guessed
``failed``         the read did not succeed after retries (the reason)
``superseded``     a later input line updated the same customer's program: the
                   state belongs to that line, which is the one compared
=================  ============================================================

What a program entry asks for depends on the run's API: :data:`JUDGING` holds,
per API, where a record lists its programs and how one of them is judged — a
third API is one more row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..base.api import LINK_PROGRAMS_KEY, LINK_TYPE
from ..base.endpoint import UPDATE
from ..capillary.read import ProgramState, parse_instant

VERDICTS = ("matches", "differs", "unverifiable", "failed", "superseded")
UNREADABLE_TYPES = frozenset({"MEMBERSHIP_RELINKING_CANCELLED", "MEMBERSHIP_RENEWAL_INITIATION"})


@dataclass(frozen=True)
class Verdict:
    verdict: str
    reason: str = ""
    programs: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Held:
    """What one read showed. ``complete``: the answer lists every program the
    customer is linked to (read by ``partnerProgramId``, or fewer programs than
    the read's limit), so a program absent from it is not linked."""
    programs: dict[str, ProgramState]
    complete: bool = False
    at: datetime | None = None      # when it was read (a future-dated link is pending)


@dataclass(frozen=True, slots=True)
class Judged:
    """One program entry: ``state`` (matches, differs, unverifiable), its line in
    ``verify.jsonl``, and why it cannot be verified when it cannot."""
    state: str
    line: dict[str, Any]
    why: str = ""


@dataclass(frozen=True, slots=True)
class Judging:
    programs_key: str                           # where a record lists its programs
    one: Callable[[dict[str, Any], Held], Judged]


def judge(record: Any, held: Held, api: str = "update") -> Verdict:
    """The record's program entries (for a run of ``api``) against what was read."""
    judging = JUDGING[api]
    entries = record.get(judging.programs_key) if type(record) is dict else None
    if type(entries) is not list or not entries:
        return Verdict("unverifiable", "the record has no program entries")
    judged = [judging.one(e if type(e) is dict else {}, held) for e in entries]
    shown = [j.line for j in judged]
    unverifiable = [j.why for j in judged if j.state == "unverifiable"]
    if unverifiable:
        return Verdict("unverifiable", "; ".join(unverifiable), shown)
    differs = any(j.state == "differs" for j in judged)
    return Verdict("differs" if differs else "matches", "", shown)


def _update(entry: dict[str, Any], held: Held) -> Judged:
    """An update: the tier and expiry it set. Absent from the answer: unverifiable,
    whatever the answer's length (an update of a program the customer left)."""
    name, kind = entry.get("partnerProgramName"), entry.get("updateType")
    details = entry.get("updateDetails")
    details = details if type(details) is dict else {}
    line: dict[str, Any] = {"partnerProgramName": name, "updateType": kind}
    if kind in UNREADABLE_TYPES:
        return Judged("unverifiable", {**line, "state": "unverifiable"},
                      f"{name}: {kind} is not shown by any documented read")
    state = held.programs.get(name) if type(name) is str else None
    if state is None:
        return Judged("unverifiable", {**line, "state": "absent"}, f"{name}: not in the answer")
    return _compare(line, details.get("updatedTierName"), details.get("updatedTierExpiryDate"),
                    state)


def _link(entry: dict[str, Any], held: Held) -> Judged:
    """A link: linked, with its reference's tier and expiry. Absent from a
    complete answer, or shown ``linked: false``: it differs."""
    name = entry.get("partnerProgramName")
    ref = entry.get("customerPartnerReference")
    ref = ref if type(ref) is dict else {}
    line: dict[str, Any] = {"partnerProgramName": name, "updateType": LINK_TYPE}
    start = parse_instant(ref.get("membershipStartDate"))
    if start is not None and held.at is not None and start > held.at:
        return Judged("unverifiable", {**line, "state": "unverifiable"},
                      f"{name}: a future-dated link is a pending relink, which no read shows")
    state = held.programs.get(name) if type(name) is str else None
    if state is None:
        if not held.complete:
            return Judged("unverifiable", {**line, "state": "absent"},
                          f"{name}: not in the answer, which may not list every program")
        return Judged("differs", {**line, "state": "differs", "held": {"linked": False}})
    if state.linked is False:
        return Judged("differs", {**line, "state": "differs", "held": _held(state)})
    return _compare(line, ref.get("partnerTierName"), ref.get("partnerTierExpiryDate"), state)


def _delink(entry: dict[str, Any], held: Held) -> Judged:
    """A delink: not linked. Shown ``linked: false``, or absent from a complete
    answer: it matches; shown linked: it differs."""
    name = entry.get("partnerProgramName")
    line: dict[str, Any] = {"partnerProgramName": name, "updateType": "DELINK"}
    state = held.programs.get(name) if type(name) is str else None
    if state is None:
        if held.complete:
            return Judged("matches", {**line, "state": "matches"})
        return Judged("unverifiable", {**line, "state": "absent"},
                      f"{name}: not in the answer, which may not list every program")
    if state.linked is False:
        return Judged("matches", {**line, "state": "matches"})
    if state.linked is None:
        return Judged("unverifiable", {**line, "state": "unverifiable"},
                      f"{name}: the answer does not say whether it is linked")
    return Judged("differs", {**line, "state": "differs", "held": _held(state)})


def _compare(line: dict[str, Any], want_tier: Any, want_expiry: Any,
             state: ProgramState) -> Judged:
    ok = want_tier is None or want_tier == state.tier
    if want_expiry is not None:
        wanted = parse_instant(want_expiry)
        ok = ok and wanted is not None and wanted == state.expiry
    if ok:
        return Judged("matches", {**line, "state": "matches"})
    return Judged("differs", {**line, "state": "differs",
                              "asked": {"tier": want_tier, "expiry": want_expiry},
                              "held": _held(state)})


def _held(state: ProgramState) -> dict[str, Any]:
    return {"tier": state.tier, "expiry": state.expiry_text, "linked": state.linked}


JUDGING = {
    UPDATE.name: Judging(UPDATE.programs_key, _update),
    "link": Judging(LINK_PROGRAMS_KEY, _link),
    # Capillary's deLinkCustomer body (the delink endpoint is another change's).
    "delink": Judging("deLinkFromPartnerPrograms", _delink),
}
