"""Reading one customer's partner programs back: the read endpoint as a value,
and what its answer says. Pure; the driver (:mod:`bulkupdate.verify.run`) sends
through the one :class:`~.transport.Transport`.

Capillary documents ``GET /v2/partnerProgram/customerActivityHistories`` (its own
examples also write ``…/customerActivityHistory``) with the query ``source``,
``identifierName``, ``identifierValue``, ``activityType`` (``LINKINGUPDATES``;
the examples write ``linkingUpdates``), optional ``partnerProgramId``, ``limit``
(at most 10) and ``offset``. One customer per call. Its answer::

    {"pagination": {...}, "data": [{"partnerProgramDetails": {"partnerProgramName",
     "partnerTierName", "partnerTierExpiryDate", "linked", ...},
     "customerActivityHistory": [...]}], "warnings": [], "errors": []}

The path, ``source`` and ``activityType`` spelling are settings (the docs leave
them open); the identifier is the one the record was sent with. When an entry
names the customer (a ``customer`` object, as the simulator adds), it must be the
one asked for: another customer's programs are never read as this one's.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from ..base.api import IDENTIFIERS, READ_ACTIVITY_TYPE, READ_PATH, READ_SOURCE
from .answers import Kind, parse_retry_after
from .matching import same_customer

if TYPE_CHECKING:   # an annotation: the transport's reply, judged here
    from .transport import Reply

READ_PATHS = (READ_PATH, "/v2/partnerProgram/customerActivityHistory")
READ_LIMIT = 10          # the documented maximum: the customer's ten most recent programs
NOT_FOUND = 8015


@dataclass(frozen=True, slots=True)
class ReadEndpoint:
    path: str = READ_PATH
    source: str = READ_SOURCE
    activity_type: str = READ_ACTIVITY_TYPE

    def query(self, identifier: tuple[str, str]) -> dict[str, str]:
        name, value = identifier
        return {"source": self.source, "identifierName": name, "identifierValue": value,
                "activityType": self.activity_type, "limit": str(READ_LIMIT), "offset": "0"}


def read_identifier(customer: Any) -> tuple[str, str] | None:
    """The identifier the record was sent with (the first the API would use)."""
    if type(customer) is not dict:
        return None
    for name in IDENTIFIERS:
        value = customer.get(name)
        if value is not None and str(value).strip():
            return name, str(value).strip()
    return None


@dataclass(frozen=True, slots=True)
class ProgramState:
    tier: str | None
    expiry: datetime | None
    expiry_text: str | None
    linked: bool | None


class ReadKind(enum.Enum):
    STATE = "state"            # programs read: see ``programs``
    NOT_FOUND = "not_found"    # 8015: the API knows no such customer
    TRANSIENT = "transient"    # ask again (429, 5xx, no answer, a bad shape)
    FATAL = "fatal"            # 401/403, 404/405, redirect: asking again cannot help


@dataclass(frozen=True, slots=True)
class ReadAnswer:
    kind: ReadKind
    reason: str
    status: int | None = None
    programs: dict[str, ProgramState] | None = None
    retry_after: float | None = None
    throttled: bool = False
    # Every program the customer is linked to is listed (fewer than the read's
    # limit): one absent from ``programs`` is not linked.
    complete: bool = False


def parse_instant(text: Any) -> datetime | None:
    """An ISO 8601 instant with an offset (``Z`` included); None otherwise."""
    if type(text) is not str:
        return None
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def read_answer(reply: Reply, asked: dict[str, Any]) -> ReadAnswer:
    """What one reply of the transport says about the customer ``asked``: a
    failure means for a read what it means for a write (a certificate not
    trusted, a redirect: fatal; no answer, a body past the bound: ask again)."""
    failure = reply.failure
    if failure is not None:
        kind = ReadKind.FATAL if failure.kind is Kind.FATAL else ReadKind.TRANSIENT
        return ReadAnswer(kind, failure.reason, failure.status,
                          retry_after=failure.retry_after)
    assert reply.status is not None
    return classify_read(reply.status, reply.body, asked, reply.retry_after)


def classify_read(status: int, body: bytes, asked: dict[str, Any],
                  retry_after: str | None = None) -> ReadAnswer:
    """What one HTTP answer to a read says about the customer ``asked``."""
    wait = parse_retry_after(retry_after) if retry_after else None
    if 300 <= status < 400:
        return ReadAnswer(ReadKind.FATAL, f"HTTP {status}: redirects are never followed",
                          status)
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        data = None
    if _code(data) == NOT_FOUND:
        return ReadAnswer(ReadKind.NOT_FOUND, "8015: customer not found", status)
    if status in (401, 403, 404, 405):
        return ReadAnswer(ReadKind.FATAL, f"HTTP {status} from the read endpoint", status)
    if status != 200:
        return ReadAnswer(ReadKind.TRANSIENT, f"HTTP {status}", status, retry_after=wait,
                          throttled=status == 429)
    return parse_programs(data, asked, status)


def parse_programs(data: Any, asked: dict[str, Any], status: int = 200) -> ReadAnswer:
    """The documented shape → program name → state; anything else is a bad answer."""
    entries = data.get("data") if type(data) is dict else None
    if type(entries) is not list:
        return ReadAnswer(ReadKind.TRANSIENT, "answer without a data list", status)
    programs: dict[str, ProgramState] = {}
    for entry in entries:
        details = entry.get("partnerProgramDetails") if type(entry) is dict else None
        if type(details) is not dict or type(details.get("partnerProgramName")) is not str:
            return ReadAnswer(ReadKind.TRANSIENT, "an entry without partnerProgramDetails",
                              status)
        if "customer" in entry and same_customer(asked, entry["customer"]) is False:
            return ReadAnswer(ReadKind.TRANSIENT, "the answer is about another customer",
                              status)
        expiry = details.get("partnerTierExpiryDate")
        tier = details.get("partnerTierName")
        linked = details.get("linked")
        programs[details["partnerProgramName"]] = ProgramState(
            tier if type(tier) is str else None, parse_instant(expiry),
            expiry if type(expiry) is str else None,
            linked if type(linked) is bool else None)
    return ReadAnswer(ReadKind.STATE, f"HTTP {status}", status, programs,
                      complete=len(entries) < READ_LIMIT)


def _code(data: Any) -> int | None:
    errors = data.get("errors") if type(data) is dict else None
    if type(errors) is list and errors and type(errors[0]) is dict:
        code = errors[0].get("code")
        return code if type(code) is int else None
    return None
