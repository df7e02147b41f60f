"""The typed result of one record, from the answer to the ledger: built by
:mod:`~bulkupdate.capillary.outcomes`, carried by the engine's decisions, written
by the ledger as one ``results.jsonl`` line (:meth:`RecordResult.to_dict`, keys
in the order every earlier version wrote them) and handed to a library caller's
``on_result`` as it is. Read back with :meth:`RecordResult.from_line`."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson


class Outcome(enum.StrEnum):
    OK = "ok"
    ALREADY = "already"        # the goal holds: done, though the API applied nothing
    PARTIAL = "partial"
    REJECTED = "rejected"
    RETRYABLE = "retryable"
    INVALID = "invalid"
    UNCHANGED = "unchanged"   # not sent: the state store holds this state as confirmed


@dataclass(frozen=True, slots=True)
class ProgramResult:
    """What the API said about one program update of a record. Frozen: one value
    stands for every alike program result of an answer (``outcomes`` shares them),
    its ledger form serialised once (:attr:`json`)."""

    name: str
    update_type: str
    ok: bool
    code: int | None
    message: str
    already: bool = False             # not applied, but the goal held (2005, 2027, 2004)
    likely_applied: bool = False      # ... after an attempt that may have reached it
    # Its part of a results line, serialised once: as bytes (cheap to hash and to
    # compare, for the error files' reasons) and as what orjson writes in place.
    encoded: bytes = field(init=False, repr=False, compare=False)
    json: orjson.Fragment = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        encoded = orjson.dumps(self.to_dict())
        object.__setattr__(self, "encoded", encoded)
        object.__setattr__(self, "json", orjson.Fragment(encoded))

    def to_dict(self) -> dict[str, Any]:
        out = {"partnerProgramName": self.name, "updateType": self.update_type,
               "ok": self.ok, "code": self.code, "message": self.message}
        if self.already:
            out["already"] = True
        if self.likely_applied:
            out["likely_applied"] = True
        return out


@dataclass(slots=True)
class RecordResult:
    """The final result of one input record, as written to ``results.jsonl``.

    Not frozen, though nothing changes one once built: a frozen dataclass's
    ``__init__`` sets each field through ``object.__setattr__``, seven times the
    cost of a plain one, once per customer of every run (issue 22). The ledger has
    written the line before anyone else sees the value."""

    line: int
    outcome: Outcome
    ref: str | None = None
    customer: Mapping[str, Any] | None = None
    attempts: int = 0
    uncertain: bool = False
    programs: tuple[ProgramResult, ...] = ()
    error: str | None = None          # why, for invalid and retryable records
    field: str | None = None          # the offending field of an invalid record
    customer_id: int | None = None
    code: int | None = None           # customer-level (or whole-request) code, if any
    message: str | None = None        # with ``code``: both written when this is set
    answered: bool = False            # the API named the customer: ``customerId`` written

    def to_dict(self) -> dict[str, Any]:
        """The ``results.jsonl`` line, its keys in the order they always had."""
        return self._line([p.to_dict() for p in self.programs])

    def to_json(self) -> bytes:
        """The ``results.jsonl`` line as the ledger writes it: :meth:`to_dict`'s,
        each program's part serialised once for all the customers that share it."""
        return orjson.dumps(self._line([p.json for p in self.programs]))

    def _line(self, programs: list[Any]) -> dict[str, Any]:
        if self.outcome is Outcome.INVALID:
            return {"line": self.line, "ref": self.ref, "outcome": "invalid",
                    "field": self.field, "error": self.error, "attempts": self.attempts}
        if self.answered and not self.uncertain and self.message is None \
                and self.error is None:   # the usual answer: one literal
            return {"line": self.line, "ref": self.ref, "outcome": self.outcome._value_,
                    "customer": self.customer, "attempts": self.attempts,
                    "customerId": self.customer_id, "programs": programs}
        out: dict[str, Any] = {"line": self.line, "ref": self.ref,
                               "outcome": self.outcome.value, "customer": self.customer,
                               "attempts": self.attempts}
        if self.uncertain:
            out["uncertain"] = True
        if self.answered:
            out["customerId"] = self.customer_id
        if self.error is not None:
            out["error"] = self.error
        if self.message is not None:
            out["code"] = self.code
            out["message"] = self.message
        out["programs"] = programs
        return out

    # Read as its line, like ``Summary``: ``result["outcome"]``, ``result.get("code")``
    # and ``"uncertain" in result`` for code written against the plain dict.
    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.to_dict().get(key, default)

    def __contains__(self, key: str) -> bool:
        return key in self.to_dict()

    @classmethod
    def from_line(cls, data: Mapping[str, Any]) -> RecordResult:
        """A ``results.jsonl`` line read back (or any dict of its keys)."""
        # Lenient: a line the ledger's check let through reads back whatever it lacks.
        programs = tuple(ProgramResult(str(p.get("partnerProgramName", "")),
                                       str(p.get("updateType", "")), p.get("ok") is True,
                                       p.get("code"), p.get("message") or "",
                                       bool(p.get("already")), bool(p.get("likely_applied")))
                         for p in data.get("programs") or ())
        return cls(line=data["line"], outcome=Outcome(data["outcome"]), ref=data.get("ref"),
                   customer=data.get("customer"), attempts=data.get("attempts", 0),
                   uncertain=bool(data.get("uncertain")), programs=programs,
                   error=data.get("error"), field=data.get("field"),
                   customer_id=data.get("customerId"), code=data.get("code"),
                   message=data.get("message"), answered="customerId" in data)
