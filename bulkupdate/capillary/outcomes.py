"""Per-record outcomes: a response body (or the lack of one) → one result line
per record. Pure.

Truth is the boolean ``status`` of ``customer.status`` and of each program's
status (``updateStatus`` for :data:`~bulkupdate.base.endpoint.UPDATE`: the
names are the endpoint's) — never the message text. Items are matched to records
by identifier in the forms the API stores (:mod:`~bulkupdate.capillary.matching`)
first, by position second; program results by ``partnerProgramName`` and
``updateType`` (by name alone where the endpoint's results carry no type),
whatever their order. Items that match give their outcomes even when others do not.

A per-item answer was processed: a record no item answers may well have been
applied, and re-sending it would apply it again. It becomes ``retryable`` and
``uncertain`` with an error naming the mismatch (masked), never re-sent blindly.
Except where the endpoint allows ``short_answers`` (delink) and the answer lines
up but holds fewer customers than were sent: those left out are in
:attr:`Mapped.left_out`, of unknown fate, for the engine to settle and send again.

``already``: the API refused a program with the code that says the night's goal
holds (:data:`GOAL_HOLDS`: a link answered 2005, a relink cancel 2027, a delink
2004). The program stays ``ok: false`` with its code, marked ``already: true``;
a record whose programs are each ``ok`` or already, at least one already, is
``already`` (done, not ``ok``: the API applied nothing there); already and
rejected programs together make it ``partial``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..base.api import ALREADY_LINKED, DELINK_TYPE, LINK_TYPE, NOT_LINKED, NOT_NOW_CODES
from ..base.endpoint import UPDATE, Endpoint
from .matching import describe_mismatch, keys, same_customer
from .result import Outcome, ProgramResult, RecordResult

if TYPE_CHECKING:   # annotations: validate builds on capillary's API facts
    from ..source.validate import Invalid, Record


__all__ = ["Mapped", "Mismatch", "Outcome", "ProgramResult", "RecordResult", "invalid",
           "map_items", "not_now", "rejected_batch", "retryable", "unchanged"]


class Mismatch(Exception):
    """An answer item does not describe the record it names."""


@dataclass(frozen=True, slots=True)
class Mapped:
    results: list[RecordResult]     # one per record, in the records' order
    unmatched: int = 0              # records no item answered: retryable, uncertain
    mismatch: str = ""              # what did not line up, masked ("" when all did)
    # Records a short answer left out (``short_answers`` endpoints): unknown fate.
    left_out: tuple[int, ...] = ()


UNMATCHED = ("the API answered but not for this customer ({}): it may have been applied, so "
             "it was not sent again; check it before replaying retry.jsonl")


Memo = dict[tuple[Any, ...], ProgramResult]   # (name, type, ok, code, message) → the value


def map_items(records: list[Record], items: list[Any], endpoint: Endpoint = UPDATE) -> Mapped:
    """Results for ``records`` from the per-item ``items`` of one answer."""
    n = len(records)
    ckey = endpoint.customer_key
    results: list[RecordResult | None] = [None] * n
    details: dict[int, str] = {}    # record index → what did not line up, for ``mismatch``
    used = [False] * len(items)
    left: list[int] = []
    memo: Memo = {}   # program results alike in one answer are one value (frozen)
    in_order = len(items) == n
    if in_order:
        # The hot path: an answer in the request's order, each item naming its record.
        for k in range(n):
            item = items[k]
            customer = item.get(ckey) if type(item) is dict else None
            if same_customer(records[k].customer, customer):
                used[k] = True
                results[k] = _mapped(records, k, item, endpoint, details, memo)
            else:
                left.append(k)
    else:
        left = list(range(n))
    if left:
        _by_identity(records, items, left, used, results, endpoint, details, memo)
        if in_order:
            # Identity first, position second: an item that names nothing its
            # record sent, and no other record either, is that record's.
            for k in left:
                item = items[k]
                if (results[k] is None and not used[k] and type(item) is dict
                        and same_customer(records[k].customer, item.get(ckey)) is None):
                    used[k] = True
                    results[k] = _mapped(records, k, item, endpoint, details, memo)
    if endpoint.short_answers and 0 < len(items) < n and all(used):
        # It lines up, but is short: a server that took fewer customers than sent.
        return _short(records, results, len(items))
    unmatched = 0
    mismatch = ""
    for k, result in enumerate(results):
        if result is None:
            details[k] = describe_mismatch(records[k].customer, _counterpart(items, used, k, ckey))
            result = results[k] = _unmatched(records[k], details[k])
        if result.error is not None:
            unmatched += 1
            mismatch = mismatch or f"line {records[k].line}: {details[k]}"
    return Mapped(results, unmatched, mismatch)   # type: ignore[arg-type]


def _short(records: list[Record], results: list[RecordResult | None],
           answered: int) -> Mapped:
    """An answer that names only some of the records, each rightly: the others
    are left out, their fate unknown (no result here; the engine decides)."""
    left = tuple(k for k, result in enumerate(results) if result is None)
    detail = f"{answered} results for {len(records)} customers"
    for k in left:
        results[k] = _unmatched(records[k], detail)
    return Mapped(results, 0, "", left)   # type: ignore[arg-type]


def _by_identity(records: list[Record], items: list[Any], left: list[int],
                 used: list[bool], results: list[RecordResult | None],
                 endpoint: Endpoint, details: dict[int, str], memo: Memo) -> None:
    """Records the positional pass left: the first unused item that names them,
    found through an index (an answer in another order costs no more than one
    in order)."""
    index: dict[tuple[str, Any], list[int]] = {}
    for j, item in enumerate(items):
        if not used[j] and type(item) is dict:
            for key in keys(item.get(endpoint.customer_key)):
                index.setdefault(key, []).append(j)
    for k in left:
        sent = records[k].customer
        candidates = sorted({j for key in keys(sent) for j in index.get(key, ())})
        for j in candidates:
            if not used[j] and same_customer(sent, items[j].get(endpoint.customer_key)):
                used[j] = True
                results[k] = _mapped(records, k, items[j], endpoint, details, memo)
                break


def _counterpart(items: list[Any], used: list[bool], k: int, customer_key: str) -> Any:
    """The customer of the item most likely meant for record ``k``: the unused one
    at its position, else the first unused one."""
    if k < len(items) and not used[k]:
        item = items[k]
    else:
        item = next((it for j, it in enumerate(items) if not used[j]), None)
    return item.get(customer_key) if type(item) is dict else None


def _mapped(records: list[Record], k: int, item: dict[str, Any], endpoint: Endpoint,
            details: dict[int, str], memo: Memo) -> RecordResult:
    try:
        return _one(records[k], item, endpoint, memo)
    except Mismatch as exc:
        details[k] = str(exc)
        return _unmatched(records[k], details[k])


def _unmatched(record: Record, detail: str) -> RecordResult:
    return retryable(record, UNMATCHED.format(detail), uncertain=True)


_EMPTY: dict[str, Any] = {}
OK, ALREADY, PARTIAL, REJECTED = Outcome.OK, Outcome.ALREADY, Outcome.PARTIAL, Outcome.REJECTED


def _one(record: Record, item: Any, endpoint: Endpoint, memo: Memo | None = None
         ) -> RecordResult:
    # The hot path of a run (once per customer): plain type checks and one pass.
    if type(item) is not dict:
        raise Mismatch("result is not an object")
    customer = item.get(endpoint.customer_key)
    if type(customer) is not dict:
        customer = _EMPTY
    status = customer.get("status")
    if type(status) is not dict:
        status = _EMPTY
    found = status.get("status") is not False
    updates = item.get(endpoint.programs_key)
    if type(updates) is not list:
        updates = []
    expected = record.programs
    if found:
        if len(updates) != len(expected):
            raise Mismatch(f"{len(updates)} program results for {len(expected)} updates")
        if not _lined_up(updates, expected, endpoint.has_update_type):
            updates = _in_order(updates, expected, endpoint.has_update_type)
    programs = []
    accepted = reached = 0
    status_key = endpoint.status_key
    uncertain = record.uncertain
    for i, (name, kind) in enumerate(expected):
        update = updates[i] if i < len(updates) else None
        answer = update.get(status_key) if type(update) is dict else None
        if type(answer) is not dict:
            answer = _EMPTY
        if found:
            ok = answer.get("status") is True
            accepted += ok
            code = answer.get("code")
            message = answer.get("message") or ""
            if not ok and type(code) is int and (code, kind) in GOAL_HOLDS:
                reached += 1
                programs.append(_goal_held(name, kind, code, message, uncertain))
                continue
        else:
            ok = False
            code = answer.get("code", status.get("code"))
            message = answer.get("message", status.get("message")) or ""
        if memo is None or type(message) is not str or not (code is None or type(code) is int):
            programs.append(ProgramResult(name, kind, ok, code, message))   # unhashable
            continue
        key = (name, kind, ok, code, message)
        program = memo.get(key)
        if program is None:
            program = memo[key] = ProgramResult(name, kind, ok, code, message)
        programs.append(program)
    customer_id = customer.get("id")
    n = len(programs)   # the outcome, inline: once per customer
    outcome = OK if accepted == n else ALREADY if accepted + reached == n else \
        PARTIAL if accepted + reached else REJECTED
    return RecordResult(record.line, outcome, record.ref,
                        record.customer, record.attempts, uncertain, tuple(programs), None,
                        None, customer_id if type(customer_id) is int else None,
                        None if found else status.get("code"),
                        None if found else status.get("message") or "", True)


def _lined_up(updates: list[Any], expected: list[tuple[str, str]], typed: bool) -> bool:
    """Whether each program result (as many as ``expected``) names, or leaves out,
    its own program: the usual answer, taken as it is."""
    for i, (name, kind) in enumerate(expected):
        update = updates[i]
        if type(update) is not dict:
            return False
        got = update.get("partnerProgramName")
        if got is not None and got != name:
            return False
        got = update.get("updateType") if typed else None
        if got is not None and got != kind:
            return False
    return True


def _in_order(updates: list[Any], expected: list[tuple[str, str]],
              typed: bool = True) -> list[Any]:
    """Program results that do not line up (:func:`_lined_up`), in the order of
    ``expected``: matched by name and (``typed``) updateType whatever the order."""
    left = list(updates)
    ordered = []
    for name, kind in expected:
        for j, update in enumerate(left):
            if (type(update) is dict and update.get("partnerProgramName") == name
                    and (not typed or update.get("updateType") == kind)):
                ordered.append(left.pop(j))
                break
        else:
            raise Mismatch(f"no program result for {name!r}" + (f" {kind}" if typed else ""))
    return ordered


def not_now(result: RecordResult) -> int | None:
    """The "not now" code (:data:`~bulkupdate.base.api.NOT_NOW_CODES`) when the API
    accepted none of the record's updates and deferred at least one; else None.
    A record with an accepted update is final: re-sending it would apply that
    update twice."""
    if result.outcome is Outcome.OK:
        return None
    found = None
    for program in result.programs:
        if program.ok:
            return None
        if program.code in NOT_NOW_CODES:
            found = program.code
    return found


RELINK_CANCEL = "MEMBERSHIP_RELINKING_CANCELLED"
NO_PENDING_RELINK = 2027
# (code, updateType) → (what the code says, what the goal was): refusals that say
# the night's goal holds for that program (a link has the type "LINK", a delink "DELINK").
GOAL_HOLDS = {(ALREADY_LINKED, LINK_TYPE): ("already linked", "linked"),
              (NO_PENDING_RELINK, RELINK_CANCEL): ("no pending relinking to cancel",
                                                   "cancelled"),
              (NOT_LINKED, DELINK_TYPE): ("not linked", "delinked")}
LOST_OR_BEFORE = "{said} ({code}): {done} by the lost attempt or before this run"


def _goal_held(name: str, kind: str, code: Any, message: str,
               uncertain: bool) -> ProgramResult:
    """A refusal that says the goal holds (2005, 2027, 2004): ``already``. After an
    attempt that may have been applied (``uncertain``), that attempt may have
    reached it, or it held before this run — the code cannot tell the two apart,
    and the note says so: marked ``likely_applied``, so nobody re-sends what
    already happened. On a first attempt the API's message stays."""
    if not uncertain:
        return ProgramResult(name, kind, False, code, message, True)
    said, done = GOAL_HOLDS[code, kind]
    return ProgramResult(name, kind, False, code,
                         LOST_OR_BEFORE.format(said=said, code=code, done=done), True, True)


def retryable(record: Record, reason: str, *, uncertain: bool = False) -> RecordResult:
    """Given up; ``uncertain`` when the last attempt's fate is unknown (the
    record itself need not say so yet: deciding changes no record). An earlier
    attempt sent and never answered (``record.uncertain``) may have been applied,
    so this customer may have been updated twice: uncertain too."""
    return RecordResult(record.line, Outcome.RETRYABLE, record.ref, record.customer,
                        record.attempts, record.uncertain or uncertain,
                        _all(record, False, None, reason), error=reason)


def rejected_batch(record: Record, code: int | None, reason: str, *,
                   attempts: int | None = None) -> RecordResult:
    """The API refused the request as a whole, and it held only this record
    (``attempts``: when the refusal was no attempt, one less than the record's)."""
    return RecordResult(record.line, Outcome.REJECTED, record.ref, record.customer,
                        record.attempts if attempts is None else attempts, record.uncertain,
                        _all(record, False, code, reason), code=code, message=reason)


UNCHANGED_MESSAGE = "not sent: the state store holds this state as confirmed by the API"


def unchanged(record: Record, customer_id: int | None) -> RecordResult:
    """Not sent: every program update would leave the confirmed state as it is
    (``--state``). Each program ``ok`` with no code: the API said nothing tonight."""
    return RecordResult(record.line, Outcome.UNCHANGED, record.ref, record.customer, 0,
                        record.uncertain, _all(record, True, None, UNCHANGED_MESSAGE),
                        customer_id=customer_id, answered=True)


def _all(record: Record, ok: bool, code: int | None, message: str) -> tuple[ProgramResult, ...]:
    """One result for each program of ``record``, all alike."""
    return tuple(ProgramResult(n, k, ok, code, message) for n, k in record.programs)


def invalid(bad: Invalid) -> RecordResult:
    return RecordResult(bad.line, Outcome.INVALID, bad.ref, field=bad.field, error=bad.error)
