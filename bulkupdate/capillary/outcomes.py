"""Per-record outcomes: a response body (or the lack of one) → one result line
per record. Pure.

Truth is the boolean ``status`` of ``customer.status`` and of each program's
status (``updateStatus`` for :data:`~bulkupdate.capillary.endpoint.UPDATE`: the
names are the endpoint's) — never the message text. Items are matched to records
by identifier in the forms the API stores (:mod:`~bulkupdate.capillary.matching`)
first, by position second; program results by ``partnerProgramName`` and
``updateType`` (by name alone where the endpoint's results carry no type),
whatever their order. Items that match give their outcomes even when others do not.

A per-item answer was processed: a record no item answers may well have been
applied, and re-sending it would apply it again. It becomes ``retryable`` and
``uncertain`` with an error naming the mismatch (masked), never re-sent blindly.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .api import ALREADY_LINKED, LINK_TYPE, NOT_NOW_CODES
from .endpoint import UPDATE, Endpoint
from .matching import describe, keys, same_customer

if TYPE_CHECKING:   # annotations: validate builds on capillary's API facts
    from ..validate import Invalid, Record


class Outcome(enum.StrEnum):
    OK = "ok"
    PARTIAL = "partial"
    REJECTED = "rejected"
    RETRYABLE = "retryable"
    INVALID = "invalid"
    UNCHANGED = "unchanged"   # not sent: the state store holds this state as confirmed


class Mismatch(Exception):
    """An answer item does not describe the record it names."""


@dataclass(frozen=True, slots=True)
class Mapped:
    results: list[dict[str, Any]]   # one per record, in the records' order
    unmatched: int = 0              # records no item answered: retryable, uncertain
    mismatch: str = ""              # what did not line up, masked ("" when all did)


UNMATCHED = ("the API answered but not for this customer ({}): it may have been applied, so "
             "it was not sent again; check it before replaying retry.jsonl")


def map_items(records: list[Record], items: list[Any], endpoint: Endpoint = UPDATE) -> Mapped:
    """Results for ``records`` from the per-item ``items`` of one answer."""
    n = len(records)
    ckey = endpoint.customer_key
    results: list[dict[str, Any] | None] = [None] * n
    used = [False] * len(items)
    left: list[int] = []
    in_order = len(items) == n
    if in_order:
        # The hot path: an answer in the request's order, each item naming its record.
        for k in range(n):
            item = items[k]
            customer = item.get(ckey) if type(item) is dict else None
            if same_customer(records[k].customer, customer):
                used[k] = True
                results[k] = _mapped(records[k], item, endpoint)
            else:
                left.append(k)
    else:
        left = list(range(n))
    if left:
        _by_identity(records, items, left, used, results, endpoint)
        if in_order:
            # Identity first, position second: an item that names nothing its
            # record sent, and no other record either, is that record's.
            for k in left:
                item = items[k]
                if (results[k] is None and not used[k] and type(item) is dict
                        and same_customer(records[k].customer, item.get(ckey)) is None):
                    used[k] = True
                    results[k] = _mapped(records[k], item, endpoint)
    unmatched = 0
    mismatch = ""
    for k, result in enumerate(results):
        if result is None:
            result = results[k] = _unmatched(records[k], describe(
                records[k].customer, _counterpart(items, used, k, ckey)))
        if "error" in result:
            unmatched += 1
            mismatch = mismatch or f"line {records[k].line}: {result.pop('detail')}"
    return Mapped(results, unmatched, mismatch)   # type: ignore[arg-type]


def _by_identity(records: list[Record], items: list[Any], left: list[int],
                 used: list[bool], results: list[dict[str, Any] | None],
                 endpoint: Endpoint) -> None:
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
                results[k] = _mapped(records[k], items[j], endpoint)
                break


def _counterpart(items: list[Any], used: list[bool], k: int, customer_key: str) -> Any:
    """The customer of the item most likely meant for record ``k``: the unused one
    at its position, else the first unused one."""
    if k < len(items) and not used[k]:
        item = items[k]
    else:
        item = next((it for j, it in enumerate(items) if not used[j]), None)
    return item.get(customer_key) if type(item) is dict else None


def _mapped(record: Record, item: dict[str, Any], endpoint: Endpoint) -> dict[str, Any]:
    try:
        return _one(record, item, endpoint)
    except Mismatch as exc:
        return _unmatched(record, str(exc))


def _unmatched(record: Record, detail: str) -> dict[str, Any]:
    result = retryable(record, UNMATCHED.format(detail))
    result["uncertain"] = True
    result["detail"] = detail    # for the breaker's message; popped before it is written
    return result


_EMPTY: dict[str, Any] = {}


def _one(record: Record, item: Any, endpoint: Endpoint) -> dict[str, Any]:
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
        updates = _in_order(updates, expected, endpoint.has_update_type)
    programs = []
    accepted = 0
    status_key = endpoint.status_key
    for i, (name, kind) in enumerate(expected):
        update = updates[i] if i < len(updates) else None
        if type(update) is not dict:
            update = _EMPTY
        answer = update.get(status_key)
        if type(answer) is not dict:
            answer = _EMPTY
        if found:
            ok = answer.get("status") is True
            accepted += ok
            code = answer.get("code")
            message = answer.get("message") or ""
        else:
            ok = False
            code = answer.get("code", status.get("code"))
            message = answer.get("message", status.get("message")) or ""
        programs.append({"partnerProgramName": name, "updateType": kind, "ok": ok,
                         "code": code, "message": message})
    if record.uncertain:
        _likely_applied(programs)
    if accepted == len(programs):
        outcome = Outcome.OK
    elif accepted:
        outcome = Outcome.PARTIAL
    else:
        outcome = Outcome.REJECTED
    result = _head(record, outcome)
    customer_id = customer.get("id")
    result["customerId"] = customer_id if type(customer_id) is int else None
    if not found:
        result["code"] = status.get("code")
        result["message"] = status.get("message") or ""
    result["programs"] = programs
    return result


def _in_order(updates: list[Any], expected: list[tuple[str, str]],
              typed: bool = True) -> list[Any]:
    """Program results in the order of ``expected``: as given when each names (or
    leaves out) its own, else matched by name and (``typed``) updateType whatever
    the order."""
    for update, (name, kind) in zip(updates, expected, strict=True):
        if type(update) is not dict:
            break
        got = update.get("partnerProgramName")
        if got is not None and got != name:
            break
        got = update.get("updateType") if typed else None
        if got is not None and got != kind:
            break
    else:
        return updates
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


def not_now(result: dict[str, Any]) -> int | None:
    """The "not now" code (:data:`~bulkupdate.capillary.api.NOT_NOW_CODES`) when the API
    accepted none of the record's updates and deferred at least one; else None.
    A record with an accepted update is final: re-sending it would apply that
    update twice."""
    if result["outcome"] == Outcome.OK:
        return None
    found = None
    for program in result["programs"]:
        if program["ok"]:
            return None
        if program["code"] in NOT_NOW_CODES:
            found = program["code"]
    return found


RELINK_CANCEL = "MEMBERSHIP_RELINKING_CANCELLED"
NO_PENDING_RELINK = 2027
LIKELY_APPLIED = ("no pending relinking to cancel (2027), after an earlier attempt whose fate "
                  "is unknown: that attempt most likely cancelled it")
LIKELY_LINKED = ("already linked (2005), after an earlier attempt whose fate is unknown: "
                 "that attempt most likely linked it")
# (code, updateType) → the message: refusals that an unanswered earlier attempt
# of the same record most likely caused (a link has the type "LINK").
_OWN_DOING = {(NO_PENDING_RELINK, RELINK_CANCEL): LIKELY_APPLIED,
              (ALREADY_LINKED, LINK_TYPE): LIKELY_LINKED}


def _likely_applied(programs: list[dict[str, Any]]) -> None:
    """A cancel refused with 2027, or a link with 2005, after an attempt that may
    have been applied: the refusal is most likely that attempt's own doing. Still
    not ``ok`` (the API did not say so), but marked, so nobody re-sends what
    already happened. On a first attempt both are plain rejections."""
    for program in programs:
        message = None if program["ok"] else _OWN_DOING.get(
            (program["code"], program["updateType"]))
        if message is not None:
            program["likely_applied"] = True
            program["message"] = message


def _head(record: Record, outcome: Outcome, *, uncertain: bool = False,
          attempts: int | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"line": record.line, "ref": record.ref, "outcome": outcome.value,
                              "customer": record.customer}
    result["attempts"] = record.attempts if attempts is None else attempts
    if record.uncertain or uncertain:
        # An earlier attempt was sent and never answered: it may have been
        # applied, so this customer may have been updated twice.
        result["uncertain"] = True
    return result


def retryable(record: Record, reason: str, *, uncertain: bool = False) -> dict[str, Any]:
    """Given up; ``uncertain`` when the last attempt's fate is unknown (the
    record itself need not say so yet: deciding changes no record)."""
    result = _head(record, Outcome.RETRYABLE, uncertain=uncertain)
    result["error"] = reason
    result["programs"] = [{"partnerProgramName": n, "updateType": k, "ok": False,
                           "code": None, "message": reason} for n, k in record.programs]
    return result


def rejected_batch(record: Record, code: int | None, reason: str, *,
                   attempts: int | None = None) -> dict[str, Any]:
    """The API refused the request as a whole, and it held only this record
    (``attempts``: when the refusal was no attempt, one less than the record's)."""
    result = _head(record, Outcome.REJECTED, attempts=attempts)
    result["code"] = code
    result["message"] = reason
    result["programs"] = [{"partnerProgramName": n, "updateType": k, "ok": False,
                           "code": code, "message": reason} for n, k in record.programs]
    return result


UNCHANGED_MESSAGE = "not sent: the state store holds this state as confirmed by the API"


def unchanged(record: Record, customer_id: int | None) -> dict[str, Any]:
    """Not sent: every program update would leave the confirmed state as it is
    (``--state``). Each program ``ok`` with no code: the API said nothing tonight."""
    result = _head(record, Outcome.UNCHANGED, attempts=0)
    result["customerId"] = customer_id
    result["programs"] = [{"partnerProgramName": n, "updateType": k, "ok": True,
                           "code": None, "message": UNCHANGED_MESSAGE}
                          for n, k in record.programs]
    return result


def invalid(bad: Invalid) -> dict[str, Any]:
    return {"line": bad.line, "ref": bad.ref, "outcome": Outcome.INVALID.value,
            "field": bad.field, "error": bad.error, "attempts": 0}
