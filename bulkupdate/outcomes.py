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


def _one(record: Record, item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise Mismatch(f"line {record.line}: result is not an object")
    customer = item.get("customer")
    customer = customer if isinstance(customer, dict) else {}
    _same_customer(record, customer)
    updates = item.get("partnerProgramUpdates")
    updates = updates if isinstance(updates, list) else []
    status = customer.get("status")
    status = status if isinstance(status, dict) else {}
    found = status.get("status") is not False
    programs = []
    if found and len(updates) != len(record.programs):
        raise Mismatch(f"line {record.line}: {len(updates)} program results for "
                       f"{len(record.programs)} updates")
    for i, (name, kind) in enumerate(record.programs):
        update = updates[i] if i < len(updates) and isinstance(updates[i], dict) else {}
        if found and update.get("partnerProgramName") not in (None, name):
            raise Mismatch(f"line {record.line}: program {i} is "
                           f"{update.get('partnerProgramName')!r}, sent {name!r}")
        answer = update.get("updateStatus")
        answer = answer if isinstance(answer, dict) else {}
        ok = found and answer.get("status") is True
        code = answer.get("code", status.get("code") if not found else None)
        message = answer.get("message", status.get("message") if not found else "")
        programs.append({"partnerProgramName": name, "updateType": kind, "ok": ok,
                         "code": code, "message": message or ""})
    accepted = sum(p["ok"] for p in programs)
    if accepted == len(programs):
        outcome = Outcome.OK
    elif accepted:
        outcome = Outcome.PARTIAL
    else:
        outcome = Outcome.REJECTED
    result = _head(record, outcome)
    customer_id = customer.get("id")
    result["customerId"] = customer_id if isinstance(customer_id, int) else None
    if not found:
        result["code"] = status.get("code")
        result["message"] = status.get("message") or ""
    result["programs"] = programs
    return result


def _norm(name: str, value: Any) -> str:
    text = str(value).strip()
    if name == "mobile":
        return text.lstrip("+")
    return text.lower() if name == "email" else text


def _same_customer(record: Record, answered: dict[str, Any]) -> None:
    for name in ("id", "mobile", "email", "externalId"):
        sent = record.customer.get(name)
        got = answered.get(name)
        if sent in (None, "") or got in (None, ""):
            continue
        if _norm(name, sent) != _norm(name, got):
            raise Mismatch(f"line {record.line}: result is for {name} {got!r}, "
                           f"not the customer sent")


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
