"""Validation: one input line → a :class:`Record` ready to send, or an
:class:`Invalid` naming the field. Pure: no I/O; the clock comes in as ``now``.

It catches locally everything the API would answer with 2002 (missing name,
details or tier), 2003 (past or malformed expiry) and 2009 (unknown update type),
plus what the contract adds: identifiers, types, unknown keys.

:func:`validate_line` checks an item of the update API; :func:`validate_link_line`
one of the Link Customer API (``linkCustomers``), with the same pieces for what
the two share: customer, ``ref``, JSON and UTF-8, expiry (docs/migrations.md);
:func:`validate_delink_line` one of the delink API (``deLinkCustomers``: program
entries name only ``partnerProgramName``; docs/delink.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from ..base.api import (
    DELINK_PROGRAMS_KEY,
    DELINK_TYPE,
    IDENTIFIERS,
    LINK_PROGRAMS_KEY,
    LINK_REFERENCE_KEYS,
    LINK_TYPE,
    NEEDS_DETAILS,
    UPDATE_TYPES,
)

# "error": what errors.jsonl says went wrong; accepted and ignored, so that file runs as it is.
TOP_KEYS = frozenset({"customer", "partnerProgramUpdates", "ref", "error"})
UPDATE_KEYS = frozenset(("partnerProgramName", "updateType", "updateDetails"))
DETAIL_KEYS = frozenset(("updatedTierName", "updatedTierExpiryDate"))
LINK_TOP_KEYS = frozenset({"customer", LINK_PROGRAMS_KEY, "ref", "error"})
LINK_KEYS = frozenset(("partnerProgramName", "customerPartnerReference"))
REFERENCE_KEYS = frozenset(LINK_REFERENCE_KEYS)
DELINK_TOP_KEYS = frozenset({"customer", DELINK_PROGRAMS_KEY, "ref"})
DELINK_KEYS = frozenset(("partnerProgramName",))


@dataclass(slots=True, eq=False)
class Record:
    """A valid input record. ``body`` is the API item, serialised once: the line's
    own bytes when it carries no ``ref``."""

    line: int
    body: bytes
    customer: dict[str, Any]
    programs: list[tuple[str, str]]          # (partnerProgramName, updateType)
    keys: tuple[str, ...]                    # identity keys, for per-customer ordering
    ref: str | None = None
    attempts: int = 0
    uncertain: bool = False                  # an earlier attempt may have been applied
    waited: float = 0.0                      # seconds spent in backoff so far
    # Sent again after an attempt of unknown fate, it would act again if that one
    # was applied: a future-dated link queues a relink each time. Never re-sent then.
    once: bool = False
    marked: bool = False                     # pending in the state store (--state)


@dataclass(slots=True, frozen=True)
class Invalid:
    line: int
    field: str
    error: str
    ref: str | None = None

    def describe(self) -> str:
        return f"line {self.line}: {self.field}: {self.error}"


class Unreadable(bytes):
    """Stands for input that cannot be a record (a line too long to read whole,
    a CSV row the parser refused), with why. Empty: it can never parse."""

    field: str
    error: str


def unreadable(field: str, error: str) -> Unreadable:
    marker = Unreadable()
    marker.field, marker.error = field, error
    return marker


class _Bad(Exception):
    def __init__(self, field: str, error: str):
        self.field = field
        self.error = error


def validate_line(line: int, raw: bytes, now: datetime) -> Record | Invalid:
    """One item of ``customersPartnerUpdates`` (plus the optional ``ref``). For many
    lines, ``validator("update")``: it remembers what the lines alike share."""
    return _validated(line, raw, now, _check)


def _loads(raw: bytes, now: datetime) -> Any:
    return orjson.loads(raw)


def _validated(line: int, raw: bytes, now: datetime,
               check: Callable[[int, bytes, Any, str | None, datetime], Record],
               parse: Callable[[bytes, datetime], Any] = _loads) -> Record | Invalid:
    """Parse ``raw`` and ``check`` it: a Record, or an Invalid naming the field."""
    try:
        data = parse(raw, now)
    except orjson.JSONDecodeError as exc:
        return _unparsable(line, raw, exc)
    ref = data.get("ref") if isinstance(data, dict) else None
    ref = ref if isinstance(ref, str) else None
    try:
        return check(line, raw, data, ref, now)
    except _Bad as bad:
        return Invalid(line, bad.field, bad.error, ref)


def _unparsable(line: int, raw: bytes, exc: orjson.JSONDecodeError) -> Invalid:
    """Why a line is not JSON: unreadable input, not UTF-8 (which encoding it
    looks like), or malformed JSON."""
    if type(raw) is Unreadable:
        return Invalid(line, raw.field, raw.error)
    try:
        if b"\x00" in raw:   # UTF-16 text is valid UTF-8 where it is ASCII
            raise UnicodeDecodeError("utf-8", raw, raw.index(b"\x00"),
                                     raw.index(b"\x00") + 1, "NUL")
        raw.decode("utf-8")
    except UnicodeDecodeError as uexc:
        return Invalid(line, "utf-8", f"invalid UTF-8 at byte {uexc.start}"
                                      f"{_encoding_hint(raw)}")
    return Invalid(line, "json", f"malformed JSON: {exc}")


def _check(line: int, raw: bytes, data: Any, ref: str | None, now: datetime,
           seen: SeenPrograms | None = None) -> Record:
    _top(data, TOP_KEYS, "partnerProgramUpdates")
    customer, keys = _customer(data.get("customer"))
    programs = seen.checked(raw, data, now) if seen is not None else \
        _updates(data.get("partnerProgramUpdates"), now)
    return Record(line, _body(raw, data, customer, "partnerProgramUpdates"), customer,
                  programs, keys, ref)


class SeenPrograms:
    """What :func:`_updates` made of a line's program updates, found again by their
    bytes. A full export names a few thousand combinations of program, type, tier
    and expiry for millions of customers, and checking them was two thirds of
    validating a line, parsing them another fifth (issue 22).

    The key is the line's tail from the last ``"partnerProgramUpdates":``; a tail
    is remembered only when it is exactly that key's member and the object's end
    (``{`` + tail parses as the one member whose value was checked). A line with
    the same tail then ends with the same member, at the top level (one closing
    brace follows it) and last (the value a JSON object keeps for its key): the
    same value, checked against the same ``now`` (the same object), so the same
    answer. A quote inside a string is escaped, so no string holds the key's bytes.

    Such a line is parsed up to its tail only (:meth:`parse`): the members before
    it, closed, make an object that parses exactly when the whole line does (the
    tail is known to be a member and the end), and the remembered value is put in
    as the tail's. A pure function's results, bounded (forgotten all at once past
    ``limit``), kept as long as the validator that holds them: a run's reader, one
    ``validate`` command (:func:`validator`), never in the module."""

    KEY = b'"partnerProgramUpdates":'

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        # tail → (now, programs, the value, parsed once and shared: read only)
        self._seen: dict[bytes, tuple[datetime, list[tuple[str, str]], Any]] = {}
        self._parsed: tuple[dict[str, Any], list[tuple[str, str]]] | None = None

    def validate(self, line: int, raw: bytes, now: datetime) -> Record | Invalid:
        """:func:`validate_line`, with what this validator has seen."""
        return _validated(line, raw, now, self._check, self.parse)

    def _check(self, line: int, raw: bytes, data: Any, ref: str | None,
               now: datetime) -> Record:
        return _check(line, raw, data, ref, now, self)

    def parse(self, raw: bytes, now: datetime) -> Any:
        """``orjson.loads(raw)``; for a line whose tail is known, from its head alone."""
        at = raw.rfind(self.KEY)
        seen = self._seen.get(raw[at:]) if at > 0 else None
        if seen is not None and seen[0] is now:
            head = members_before(raw, at)
            try:
                data = orjson.loads(head) if head is not None else None
            except orjson.JSONDecodeError:
                data = None
            if type(data) is dict:
                data["partnerProgramUpdates"] = seen[2]
                self._parsed = (data, seen[1])   # for checked(), right after
                return data
        return orjson.loads(raw)

    def checked(self, raw: bytes, data: dict[str, Any], now: datetime
                ) -> list[tuple[str, str]]:
        """``_updates`` of the line's program updates (shared with the lines alike:
        not to be changed)."""
        parsed = self._parsed
        if parsed is not None and parsed[0] is data:
            return parsed[1]
        at = raw.rfind(self.KEY)
        tail = raw[at:] if at >= 0 else b""
        seen = self._seen.get(tail) if tail else None
        if seen is not None and seen[0] is now:
            return seen[1]
        updates = data.get("partnerProgramUpdates")
        programs = _updates(updates, now)
        if tail and tail_member(tail, "partnerProgramUpdates") == (True, updates):
            if len(self._seen) >= self.limit:
                self._seen.clear()
            self._seen[tail] = (now, programs, updates)
        return programs


def members_before(raw: bytes, at: int) -> bytes | None:
    """The members of the object ``raw`` before ``raw[at:]`` (a member, its last),
    closed as an object of their own; None when no comma ends them."""
    if raw[at - 1] == 0x2C:   # ",": a compact line
        return raw[:at - 1] + b"}"
    before = raw[:at].rstrip()
    if before.endswith(b","):
        return before[:-1] + b"}"
    return b"{}" if before.strip() == b"{" else None


def tail_member(tail: bytes, key: str) -> tuple[bool, Any]:
    """(True, its value) when ``tail`` is exactly the member ``key`` and the end of
    an object (``{`` + tail parses as that one member): the proof, with the last
    ``"key":`` found in a line, that lines of the same tail hold the same value
    (:class:`SeenPrograms`); (False, None) otherwise."""
    try:
        member = orjson.loads(b"{" + tail)
    except orjson.JSONDecodeError:
        return False, None
    return (True, member[key]) if len(member) == 1 and key in member else (False, None)



def _top(data: Any, allowed: frozenset[str], programs_key: str) -> None:
    """An object of known top-level keys, its ``ref`` (if any) a string."""
    if not isinstance(data, dict):
        raise _Bad("json", f"a record is a JSON object, not {_kind(data)}")
    if not data.keys() <= allowed:
        key = next(k for k in data if k not in allowed)
        raise _Bad(key, f"unknown top-level key (allowed: customer, {programs_key}, ref)")
    if "ref" in data and not isinstance(data["ref"], str):
        raise _Bad("ref", f"must be a string, not {_kind(data['ref'])}")


def _body(raw: bytes, data: dict[str, Any], customer: dict[str, Any],
          programs_key: str) -> bytes:
    """The API item: the line's own bytes, or re-serialised without the ``ref``
    and ``error`` (which are ours, never sent)."""
    if "ref" not in data and "error" not in data:
        return raw.strip()
    return orjson.dumps({"customer": customer, programs_key: data[programs_key]})


def _customer(customer: Any) -> tuple[dict[str, Any], tuple[str, ...]]:
    if customer is None:
        raise _Bad("customer", "missing: give one of id, mobile, email, externalId")
    if not isinstance(customer, dict):
        raise _Bad("customer", f"must be an object, not {_kind(customer)}")
    keys: list[str] = []
    for name, value in customer.items():
        if name == "id":
            if value is None:
                continue
            if type(value) is not int or value <= 0:
                raise _Bad("customer.id", f"must be a positive integer, not {value!r}")
            keys.append(f"id:{value}")
        elif name not in IDENTIFIERS:
            raise _Bad(f"customer.{name}",
                       "unknown identifier (allowed: id, mobile, email, externalId)")
        elif value is None or value == "":
            continue  # the API's own example sends "" for identifiers it doesn't use
        elif type(value) is not str or not value.strip():
            raise _Bad(f"customer.{name}", f"must be a non-empty string, not {value!r}")
        elif name == "mobile":
            digits = value.strip().lstrip("+")
            if not digits.isdigit():
                _mobile(digits)
            keys.append("mobile:" + digits)
        elif name == "email":
            keys.append("email:" + value.strip().lower())
        else:
            keys.append("externalId:" + value.strip())
    if not keys:
        raise _Bad("customer", "no identifier: give one of id, mobile, email, externalId")
    return customer, tuple(keys)


def _mobile(digits: str) -> None:
    """A mobile that is not all digits: refused when it is what a spreadsheet
    makes of a long number (``9.19700000123E+11``) or of a formatted one (spaces,
    dots), since the API would look up a customer nobody has. Anything else (a
    dash, letters) goes to the API as before, which answers for it."""
    # Not echoed: a mobile is personal data, and the line number finds it.
    shape = "in scientific notation" if _scientific(digits) else \
        "with spaces or dots" if any(c in digits for c in " .\t\u00a0") else ""
    if shape:
        raise _Bad("customer.mobile", f"{shape}: looks like a number a spreadsheet "
                   "reformatted: format the column as text, and give digits only with "
                   "the country code, e.g. 919740000000")


def _scientific(text: str) -> bool:
    """``9.19700000123E+11`` (or ``9,197E+11``): how a spreadsheet shows a long number."""
    mantissa, e, exponent = text.lower().partition("e")
    # 9,19700E+11: the decimal comma a semicolon-delimited (European) Excel writes.
    mantissa = mantissa.replace(",", ".", 1)
    return bool(e) and mantissa.replace(".", "", 1).isdigit() and \
        exponent.lstrip("+-").isdigit()


def _encoding_hint(raw: bytes) -> str:
    """What the bytes probably are, for a line that is not UTF-8."""
    return f": the file looks like {likely_encoding(raw)}; save it as UTF-8"


def likely_encoding(raw: bytes) -> str:
    """The encoding bytes that are not UTF-8 most likely are: a byte in 0x80-0x9F
    is printable only in Windows-1252 (Excel's "CSV" in the West)."""
    if b"\x00" in raw:
        what = "UTF-16 (Excel's \"Unicode text\")"
    elif any(0x80 <= b <= 0x9F for b in raw):
        try:
            raw.decode("cp1252")
            what = "Windows-1252"
        except UnicodeDecodeError:
            what = "Latin-1 (ISO-8859-1)"
    else:
        what = "Latin-1 (ISO-8859-1) or Windows-1252"
    return what


def _entries(value: Any, where: str, one: str, many: str) -> None:
    """A record's list of programs (to update, to link to): present and not empty."""
    if value is None:
        raise _Bad(where, f"missing: a list of at least one {one}")
    if not isinstance(value, list) or not value:
        raise _Bad(where, f"must be a non-empty list of {many}")


def _entry(item: Any, at: str, keys: frozenset[str]) -> str:
    """One program of that list: an object of known keys, naming its program."""
    if type(item) is not dict:
        raise _Bad(at, f"must be an object, not {_kind(item)}")
    _known_keys(item, keys, at)
    name = item.get("partnerProgramName")
    if not isinstance(name, str) or not name.strip():
        raise _Bad(f"{at}.partnerProgramName", "missing or empty (the API answers 2002)")
    return name


def _updates(updates: Any, now: datetime) -> list[tuple[str, str]]:
    where = "partnerProgramUpdates"
    _entries(updates, where, "program update", "program updates")
    programs = []
    for i, update in enumerate(updates):
        at = f"{where}[{i}]"   # only an error uses it, but it is cheap next to parsing
        name = _entry(update, at, UPDATE_KEYS)
        kind = update.get("updateType")
        if kind not in UPDATE_TYPES:
            raise _Bad(f"{at}.updateType", f"{kind!r} is not one of {', '.join(UPDATE_TYPES)} "
                                           "(the API answers 2009)")
        details = update.get("updateDetails")
        if details is None:
            if kind in NEEDS_DETAILS:
                raise _Bad(f"{at}.updateDetails", f"required for {kind} (the API answers 2002)")
        else:
            _details(details, kind, f"{at}.updateDetails", now)
        programs.append((name, kind))
    return programs


def _known_keys(data: dict[str, Any], allowed: frozenset[str], at: str) -> None:
    if not data.keys() <= allowed:
        key = next(k for k in data if k not in allowed)
        raise _Bad(f"{at}.{key}", f"unknown key (allowed: {', '.join(sorted(allowed))})")


def _details(details: Any, kind: str, at: str, now: datetime) -> None:
    if type(details) is not dict:
        raise _Bad(at, f"must be an object, not {_kind(details)}")
    _known_keys(details, DETAIL_KEYS, at)
    tier = details.get("updatedTierName")
    if kind in NEEDS_DETAILS and (not isinstance(tier, str) or not tier.strip()):
        raise _Bad(f"{at}.updatedTierName", "missing or empty (the API answers 2002)")
    if tier is not None and not isinstance(tier, str):
        raise _Bad(f"{at}.updatedTierName", f"must be a string, not {_kind(tier)}")
    expiry = details.get("updatedTierExpiryDate")
    if expiry is not None:
        _expiry(expiry, f"{at}.updatedTierExpiryDate", now)


def _expiry(value: Any, at: str, now: datetime) -> None:
    if _when(value, at) < now:
        raise _Bad(at, f"{value!r} is in the past (the API answers 2003)")


def _when(value: Any, at: str) -> datetime:
    """An ISO 8601 date-time with its UTC offset, or why not."""
    if not isinstance(value, str):
        raise _Bad(at, f"must be an ISO 8601 date-time string, not {_kind(value)}")
    # A date without a time, or a time without an offset, would make the API
    # guess the zone: the contract makes both invalid.
    if "T" not in value and "t" not in value:
        raise _Bad(at, _without_t(value))
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise _Bad(at, f"{value!r} is not an ISO 8601 date-time, "
                       "e.g. 2027-12-29T23:59:59+05:30") from None
    if when.tzinfo is None:
        raise _Bad(at, f"{value!r} has no UTC offset: add one, e.g. +05:30 or Z")
    return when


def _without_t(value: str) -> str:
    """The message for a date-time without its ``T``: say what is missing."""
    example = "use e.g. 2027-12-29T23:59:59+05:30"
    if len(value.strip()) <= 10:
        return f"{value!r} has no time: {example}"
    try:
        offset = datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return f"{value!r} is not an ISO 8601 date-time: {example}"
    missing = "the 'T' between date and time" + ("" if offset else " and a UTC offset")
    return f"{value!r} lacks {missing}: {example}"


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            int: "an integer", float: "a number", type(None): "null"}.get(type(value),
                                                                          type(value).__name__)


def validate_link_line(line: int, raw: bytes, now: datetime) -> Record | Invalid:
    """One item of ``linkCustomers`` (plus the optional ``ref``) → a Record whose
    programs read ``(partnerProgramName, "LINK")``, or an Invalid naming the field."""
    return _validated(line, raw, now, _check_link)


def _check_link(line: int, raw: bytes, data: Any, ref: str | None, now: datetime) -> Record:
    _top(data, LINK_TOP_KEYS, LINK_PROGRAMS_KEY)
    customer, keys = _customer(data.get("customer"))
    programs, future = _links(data.get(LINK_PROGRAMS_KEY), now)
    return Record(line, _body(raw, data, customer, LINK_PROGRAMS_KEY), customer, programs,
                  keys, ref, once=future)


def _links(links: Any, now: datetime) -> tuple[list[tuple[str, str]], bool]:
    """The programs to link to, and whether one starts in the future."""
    _entries(links, LINK_PROGRAMS_KEY, "program to link to", "programs to link to")
    future = []

    def reference(link: dict[str, Any], at: str) -> None:
        future.append(_reference(link.get("customerPartnerReference"),
                                 f"{at}.customerPartnerReference", now))

    return _named_once(links, LINK_PROGRAMS_KEY, LINK_KEYS, LINK_TYPE, reference), any(future)


def _named_once(entries: list[Any], where: str, keys: frozenset[str], kind: str,
                check: Callable[[dict[str, Any], str], None] | None = None
                ) -> list[tuple[str, str]]:
    """``(partnerProgramName, kind)`` of each entry of a link or delink record,
    each program once: a second link of one customer to one program could only
    be 2005, a second delink 2004. ``check`` judges the rest of an entry."""
    programs: list[tuple[str, str]] = []
    for i, entry in enumerate(entries):
        at = f"{where}[{i}]"
        name = _entry(entry, at, keys)
        if (name, kind) in programs:
            raise _Bad(f"{at}.partnerProgramName", f"{name!r} is listed twice for this customer")
        if check is not None:
            check(entry, at)
        programs.append((name, kind))
    return programs


def _reference(reference: Any, at: str, now: datetime) -> bool:
    """``customerPartnerReference``: the tier is required (a link puts the
    customer in one); the membership id is free text; the expiry is the update
    API's (offset, future); a start date has an offset and may be past or future
    (a future one on a program already linked queues a relink)."""
    if reference is None:
        raise _Bad(at, "missing: give at least partnerTierName (the API answers 2002)")
    if type(reference) is not dict:
        raise _Bad(at, f"must be an object, not {_kind(reference)}")
    _known_keys(reference, REFERENCE_KEYS, at)
    tier = reference.get("partnerTierName")
    if not isinstance(tier, str) or not tier.strip():
        raise _Bad(f"{at}.partnerTierName", "missing or empty (the API answers 2002)")
    member = reference.get("partnerMembershipId")
    if member is not None and not isinstance(member, str):
        raise _Bad(f"{at}.partnerMembershipId", f"must be a string, not {_kind(member)}")
    expiry = reference.get("partnerTierExpiryDate")
    if expiry is not None:
        _expiry(expiry, f"{at}.partnerTierExpiryDate", now)
    start = reference.get("membershipStartDate")
    return start is not None and _when(start, f"{at}.membershipStartDate") > now


def validate_delink_line(line: int, raw: bytes, now: datetime) -> Record | Invalid:
    """One item of ``deLinkCustomers`` (plus the optional ``ref``) → a Record whose
    programs read ``(partnerProgramName, "DELINK")``, or an Invalid naming the field."""
    return _validated(line, raw, now, _check_delink)


def _check_delink(line: int, raw: bytes, data: Any, ref: str | None, now: datetime) -> Record:
    _top(data, DELINK_TOP_KEYS, DELINK_PROGRAMS_KEY)
    customer, keys = _customer(data.get("customer"))
    entries = data.get(DELINK_PROGRAMS_KEY)
    _entries(entries, DELINK_PROGRAMS_KEY, "program to delink from", "programs to delink from")
    programs = _named_once(entries, DELINK_PROGRAMS_KEY, DELINK_KEYS, DELINK_TYPE)
    return Record(line, _body(raw, data, customer, DELINK_PROGRAMS_KEY), customer, programs,
                  keys, ref)


Validator = Callable[[int, bytes, datetime], "Record | Invalid"]
VALIDATORS: dict[str, Validator] = {"link": validate_link_line, "delink": validate_delink_line}


def validator(api: str) -> Validator:
    """The local check for an item of ``api`` (an endpoint's name): the reader and
    ``bulkupdate validate`` ask here, so neither forks on the API. An update
    validator is one of its own, remembering what its lines share
    (:class:`SeenPrograms`) for as long as its caller keeps it."""
    found = VALIDATORS.get(api)
    return found if found is not None else SeenPrograms().validate
