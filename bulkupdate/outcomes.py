"""Per-record outcomes: a response body (or the lack of one) → one result line
per record. Pure.

Truth is the boolean ``status`` of ``customer.status`` and of each
``updateStatus`` — never the message text. Results are matched to records by
position and cross-checked by identifier and program name: a body that does not
line up is no answer at all (the caller retries it), never a guess.
"""

from __future__ import annotations

import enum
from typing import Any

from .api import NOT_NOW_CODES
from .logs import mask_value
from .validate import Invalid, Record


class Outcome(enum.StrEnum):
    OK = "ok"
    PARTIAL = "partial"
    REJECTED = "rejected"
    RETRYABLE = "retryable"
    INVALID = "invalid"


class Mismatch(Exception):
    """The response does not describe the request that was sent."""


def map_items(records: list[Record], items: list[Any]) -> list[dict[str, Any]]:
    if len(items) != len(records):
        raise Mismatch(f"{len(items)} results for {len(records)} records")
    return [_one(record, item) for record, item in zip(records, items, strict=True)]


_EMPTY: dict[str, Any] = {}


def _one(record: Record, item: Any) -> dict[str, Any]:
    # The hot path of a run (once per customer): plain type checks and one pass.
    if type(item) is not dict:
        raise Mismatch(f"line {record.line}: result is not an object")
    customer = item.get("customer")
    if type(customer) is not dict:
        customer = _EMPTY
    for name, sent in record.customer.items():
        got = customer.get(name)
        if got is None or got == "" or got == sent or sent is None or sent == "":
            continue
        if _norm(name, sent) != _norm(name, got):
            # Masked at the source: this text reaches the ledger and the logs.
            raise Mismatch(f"line {record.line}: result is for {name} "
                           f"{mask_value(name, str(got))!r}, not the customer sent")
    status = customer.get("status")
    if type(status) is not dict:
        status = _EMPTY
    found = status.get("status") is not False
    updates = item.get("partnerProgramUpdates")
    if type(updates) is not list:
        updates = []
    expected = record.programs
    if found and len(updates) != len(expected):
        raise Mismatch(f"line {record.line}: {len(updates)} program results for "
                       f"{len(expected)} updates")
    programs = []
    accepted = 0
    for i, (name, kind) in enumerate(expected):
        update = updates[i] if i < len(updates) else None
        if type(update) is not dict:
            update = _EMPTY
        answer = update.get("updateStatus")
        if type(answer) is not dict:
            answer = _EMPTY
        if found:
            got = update.get("partnerProgramName")
            if got is not None and got != name:
                raise Mismatch(f"line {record.line}: program {i} is {got!r}, sent {name!r}")
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


def not_now(result: dict[str, Any]) -> int | None:
    """The "not now" code (:data:`~bulkupdate.api.NOT_NOW_CODES`) when the API
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


def _likely_applied(programs: list[dict[str, Any]]) -> None:
    """A cancel refused with 2027 after an attempt that may have been applied: the
    refusal is most likely that attempt's own doing. Still not ``ok`` (the API did
    not say so), but marked, so nobody re-sends a cancel that already happened."""
    for program in programs:
        if (not program["ok"] and program["code"] == NO_PENDING_RELINK
                and program["updateType"] == RELINK_CANCEL):
            program["likely_applied"] = True
            program["message"] = LIKELY_APPLIED


def _norm(name: str, value: Any) -> str:
    text = str(value).strip()
    if name == "mobile":
        return text.lstrip("+")
    return text.lower() if name == "email" else text


def _head(record: Record, outcome: Outcome) -> dict[str, Any]:
    result: dict[str, Any] = {"line": record.line, "ref": record.ref, "outcome": outcome.value,
                              "customer": record.customer}
    result["attempts"] = record.attempts
    if record.uncertain:
        # An earlier attempt was sent and never answered: it may have been
        # applied, so this customer may have been updated twice.
        result["uncertain"] = True
    return result


def retryable(record: Record, reason: str) -> dict[str, Any]:
    result = _head(record, Outcome.RETRYABLE)
    result["error"] = reason
    result["programs"] = [{"partnerProgramName": n, "updateType": k, "ok": False,
                           "code": None, "message": reason} for n, k in record.programs]
    return result


def rejected_batch(record: Record, code: int | None, reason: str) -> dict[str, Any]:
    """The API refused the request as a whole, and it held only this record."""
    result = _head(record, Outcome.REJECTED)
    result["code"] = code
    result["message"] = reason
    result["programs"] = [{"partnerProgramName": n, "updateType": k, "ok": False,
                           "code": code, "message": reason} for n, k in record.programs]
    return result


def invalid(bad: Invalid) -> dict[str, Any]:
    return {"line": bad.line, "ref": bad.ref, "outcome": Outcome.INVALID.value,
            "field": bad.field, "error": bad.error, "attempts": 0}
