"""The simulated org: customers, partner programs, tiers, and applying one ITEM.

Pure: no I/O, no clock (``now`` comes in as epoch seconds). The world is derived
from formulas so that millions of customers cost nothing; what requests change is
kept in one byte per (customer, program), so memory is flat however many updates
arrive.

Customer ``i`` in ``[0, customers)``::

    id = 100000 + i    mobile = "9197" + f"{i:08d}"
    email = f"user{i}@example.com"    externalId = f"X{i:08d}"

A request may name a customer the way people write them, and finds the same
customer, as Capillary does: a mobile without its country code (``97`` + 8
digits, the org's default code being 91), with ``+``, spaces or dashes; an email
in any case. Answers name the customer as stored (the forms above).

Whether ``i`` is linked to a program, its tier there, and (for the supplementary
program ``SPP_1``) whether a future-dated relink is pending, all come from a cheap
hash of ``(seed, i, program)``. A JSON world (see :class:`TableDirectory`) can
replace the formulas for small hand-made cases.

Rules for one program update, first match wins (codes from the API reference):
2002 missing name / details / tier, 2009 unknown updateType, 2003 bad or past
expiry, 2006 unknown program, 2004 not linked, 2007 unknown tier, 2026/2027
relink cancel refused, 2028 renewal initiation refused, else 200 and applied.
Links (the ``linkCustomer`` endpoint) change the same bytes: ``linking.py``.
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property, lru_cache
from typing import Any

import orjson

from .config import SimConfig

PROGRAMS: dict[str, tuple[str, ...]] = {
    "Apparel-Partner": ("Bronze", "Silver", "Gold", "Platinum"),
    "Dining-Partner": ("Bronze", "Silver", "Gold", "Platinum"),
    "Travel-Partner": ("Bronze", "Silver", "Gold", "Platinum"),
    "Fuel-Partner": ("Bronze", "Silver", "Gold", "Platinum"),
    "SPP_1": ("Basic", "Plus"),
}
SUPPLEMENTARY = "SPP_1"
PROGRAM_NAMES = tuple(PROGRAMS)
PROGRAM_INDEX = {name: k for k, name in enumerate(PROGRAM_NAMES)}
TIER_INDEX = tuple({t: k for k, t in enumerate(tiers)} for tiers in PROGRAMS.values())
ALL_TIERS = frozenset(t for tiers in PROGRAMS.values() for t in tiers)
NPROG = len(PROGRAMS)
SPP_INDEX = PROGRAM_INDEX[SUPPLEMENTARY]

DEFAULT_EXPIRY = 1924972199.0   # 2030-12-31T18:29:59Z: untouched memberships expire then
UPGRADE, DOWNGRADE, RENEW = "UPGRADE", "DOWNGRADE", "RENEW"
CANCEL = "MEMBERSHIP_RELINKING_CANCELLED"
RENEWAL = "MEMBERSHIP_RENEWAL_INITIATION"
UPDATE_TYPES = (UPGRADE, DOWNGRADE, RENEW, CANCEL, RENEWAL)
NEEDS_DETAILS = frozenset({UPGRADE, DOWNGRADE, RENEW, RENEWAL})
IDENTIFIERS = ("id", "mobile", "email", "externalId")
ID_BASE = 100_000
DEFAULT_COUNTRY_CODE = "91"   # the org's: a 10-digit mobile is stored with it

MESSAGES = {
    200: "Success",
    2001: "Cannot process the partner program event",
    2002: "Invalid Request: updateDetails, updatedTierName or partnerProgramName is empty",
    2003: "Invalid Request: Partner tier expiry date should not be a past date",
    2004: "Invalid Request: Link the customer with the partner program",
    2005: "Customer is already linked to the partner program",
    2006: "Invalid Request: Cannot find the partner program",
    2007: "Invalid Request: Cannot find the partner program tier",
    2009: "Invalid Request: updateType supports only UPGRADE, DOWNGRADE, RENEW, "
          "MEMBERSHIP_RELINKING_CANCELLED, MEMBERSHIP_RENEWAL_INITIATION",
    2010: "Partner program events are presented in a queue for the user",
    2026: "Membership relinking is not enabled for this organisation",
    2027: "No pending relinking found to cancel",
    2028: "Membership renewal via this API is not allowed for this organisation",
    8015: "Customer not found",
}
# One packed byte per (customer, program): low nibble = tier index + 1 (0 = not
# linked), PENDING = a future-dated relink waits. CHANGED marks a stored override.
TIER_MASK = 0x0F
PENDING = 0x10
CHANGED = 0x80
_HALF = 14  # the tabulation hash splits an index into two 14-bit halves
_LOW_MASK = (1 << _HALF) - 1
MAX_CUSTOMERS = 1 << (2 * _HALF)  # 268 million: more than one byte each would fit anyway


@dataclass(frozen=True)
class Catalog:
    """The org's partner programs and their tiers, in slot order: the built-in five
    (:data:`PROGRAMS`), or a world file's own (``"programs": {name: [tiers]}``), so
    a rehearsal answers for the operator's programs (``--world-from``)."""

    tiers: Mapping[str, tuple[str, ...]]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.tiers)

    @cached_property
    def index(self) -> dict[str, int]:
        return {name: k for k, name in enumerate(self.tiers)}

    @cached_property
    def tier_index(self) -> tuple[dict[str, int], ...]:
        return tuple({t: k for k, t in enumerate(tiers)} for tiers in self.tiers.values())

    @property
    def size(self) -> int:
        return len(self.tiers)

    @property
    def supplementary(self) -> int:
        """The slot whose future-dated links queue a relink (-1: none)."""
        return self.index.get(SUPPLEMENTARY, -1)


CATALOG = Catalog(PROGRAMS)


def catalog_of(table: Mapping[str, Any] | None) -> Catalog:
    """A world file's programs (checked), else the built-in ones."""
    programs = (table or {}).get("programs")
    if programs is None:
        return CATALOG
    if not isinstance(programs, dict) or not programs or not all(
            isinstance(tiers, list) and tiers and all(isinstance(t, str) for t in tiers)
            for tiers in programs.values()):
        raise ValueError("world file: 'programs' maps each program name to a list of tiers")
    if len(programs) > 15:
        raise ValueError("world file: at most 15 programs")
    return Catalog({str(name): tuple(tiers) for name, tiers in programs.items()})


@lru_cache(maxsize=4096)
def expiry_epoch(value: str) -> float | None:
    """Epoch seconds of an ISO 8601 date-time, None when it does not parse.

    The real API would guess a zone for a naive value; we read it as UTC.
    """
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _tail_index(text: Any, prefix: str) -> int | None:
    """``prefix + f"{i:08d}"`` back to ``i``; None unless it is exactly that form."""
    if type(text) is not str or not text.startswith(prefix):
        return None
    rest = text[len(prefix):]
    if len(rest) < 8 or not rest.isdigit() or not rest.isascii():
        return None
    return None if len(rest) > 8 and rest[0] == "0" else int(rest)


def _mobile_index(text: Any) -> int | None:
    """A stored mobile back to ``i``; also written without the country code, or
    with ``+``, spaces and dashes."""
    i = _tail_index(text, "9197")
    if i is not None or type(text) is not str:
        return i
    plain = text.replace(" ", "").replace("-", "").removeprefix("+")
    if len(plain) == 10:
        plain = DEFAULT_COUNTRY_CODE + plain
    return _tail_index(plain, "9197") if plain != text else None


def _any_case_email_index(text: Any) -> int | None:
    i = _email_index(text)
    if i is not None or type(text) is not str:
        return i
    folded = text.strip().lower()
    return _email_index(folded) if folded != text else None


def _email_index(text: Any) -> int | None:
    """``f"user{i}@example.com"`` back to ``i``."""
    if type(text) is not str or not text.startswith("user") or not text.endswith("@example.com"):
        return None
    rest = text[4:-12]
    if not rest.isdigit() or not rest.isascii() or (rest[0] == "0" and rest != "0"):
        return None
    return int(rest)


class FormulaDirectory:
    """Who exists and how they are linked, computed from (seed, i)."""

    def __init__(self, seed: int, customers: int) -> None:
        if customers > MAX_CUSTOMERS:
            raise ValueError(f"customers must be <= {MAX_CUSTOMERS:,}, got {customers:,}")
        self.customers = customers
        # Simple tabulation hashing: two table lookups and an xor per customer give
        # well-mixed 32 bits, several times cheaper than arithmetic mixing in Python.
        rng = random.Random(f"bulkupdate-world-{seed}")
        self._low = array("L", (rng.getrandbits(32) for _ in range(1 << _HALF)))
        self._high = array("L", (rng.getrandbits(32) for _ in range(1 << _HALF)))
        self._shifts = tuple(6 * p for p in range(NPROG))
        self._tiers = tuple(len(tiers) for tiers in PROGRAMS.values())

    def locate(self, customer: Any) -> int | None:
        # Unrolled on purpose: this runs for every item of every request.
        if type(customer) is not dict:
            return None
        get = customer.get
        value = get("id")
        if value is not None and value != "":  # "" counts as absent, as in the API example
            i = value - ID_BASE if type(value) is int else None
        else:
            value = get("mobile")
            if value is not None and value != "":
                i = _mobile_index(value)
            else:
                value = get("email")
                if value is not None and value != "":
                    i = _any_case_email_index(value)
                else:
                    value = get("externalId")
                    if value is None or value == "":
                        return None
                    i = _tail_index(value, "X")
        if i is None or i < 0 or i >= self.customers:
            return None
        return i

    def identity(self, i: int) -> dict[str, Any]:
        digits = str(i).zfill(8)
        return {"id": ID_BASE + i, "mobile": "9197" + digits,
                "email": "user" + str(i) + "@example.com", "externalId": "X" + digits}

    def identity_json(self, i: int) -> str:
        """:meth:`identity` as JSON object members, each followed by a comma."""
        # Plain f-string substitution: the fastest way CPython has to build this.
        s = str(i)
        d8 = s.zfill(8)
        return (f'"id":{ID_BASE + i},"mobile":"9197{d8}","email":"user{s}@example.com",'
                f'"externalId":"X{d8}",')

    def base(self, i: int, p: int) -> int:
        """Packed link state before any request changed it.

        One hash per customer gives 32 bits; program ``p`` reads
        its own 6 (2 for linked: 3 in 4 are; then the tier), and the supplementary
        program's pending relink (about 1 in 3 of those linked) reads bits 27-31.
        """
        x = self._low[i & _LOW_MASK] ^ self._high[i >> _HALF]
        field = x >> self._shifts[p]
        if field & 3 == 0:
            return 0
        packed = ((field >> 2) & 15) % self._tiers[p] + 1
        if p == SPP_INDEX and (x >> 27) % 3 == 0:
            packed |= PENDING  # bits 27-31: the two SPP_1 tiers only read bit 26
        return packed


class TableDirectory:
    """A small hand-written world::

        {"customers": [
          {"id": 5001, "mobile": "919700000001", "email": "a@b.c", "externalId": "A1",
           "programs": {"Apparel-Partner": {"tier": "Gold"},
                        "SPP_1": {"tier": "Basic", "pendingRelink": true}}}]}

    Every identifier is optional; list position is the customer index.
    """

    def __init__(self, table: Mapping[str, Any], catalog: Catalog = CATALOG) -> None:
        self.catalog = catalog
        rows = table.get("customers")
        if not isinstance(rows, list):
            raise ValueError("world file: 'customers' must be a list")
        self.customers = len(rows)
        self._identity: list[dict[str, Any]] = []
        self._by: dict[str, dict[Any, int]] = {key: {} for key in IDENTIFIERS}
        self._base: dict[tuple[int, int], int] = {}
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                raise ValueError(f"world file: customers[{i}] must be an object")
            ident = {k: row[k] for k in IDENTIFIERS if row.get(k) not in (None, "")}
            self._identity.append(ident)
            for key, value in ident.items():
                self._by[key][_key(key, value)] = i
                if key == "mobile" and len(_key(key, value)) > 10:
                    self._by[key].setdefault(_key(key, value)[-10:], i)  # national form
            for name, link in (row.get("programs") or {}).items():
                self._base[i, self._program(i, name)] = self._packed(i, name, link)

    def _program(self, i: int, name: str) -> int:
        if name not in self.catalog.index:
            raise ValueError(f"world file: customers[{i}]: unknown program {name!r}")
        return self.catalog.index[name]

    def _packed(self, i: int, name: str, link: Any) -> int:
        link = link if isinstance(link, dict) else {}
        tiers = self.catalog.tiers[name]
        tier = link.get("tier", tiers[0])
        if tier not in tiers:
            raise ValueError(f"world file: customers[{i}]: {name} has no tier {tier!r}")
        return tiers.index(tier) + 1 | (PENDING if link.get("pendingRelink") else 0)

    def locate(self, customer: Any) -> int | None:
        if type(customer) is not dict:
            return None
        for key in IDENTIFIERS:
            value = customer.get(key)
            if value is None or value == "":
                continue
            if type(value) not in (str, int):
                return None
            return self._by[key].get(_key(key, value))
        return None

    def identity(self, i: int) -> dict[str, Any]:
        return dict(self._identity[i])

    def identity_json(self, i: int) -> str:
        members = orjson.dumps(self._identity[i]).decode()[1:-1]
        return members + "," if members else ""

    def base(self, i: int, p: int) -> int:
        return self._base.get((i, p), 0)


def _key(name: str, value: Any) -> Any:
    """How the API reads an identifier when it looks a customer up."""
    if type(value) is not str:
        return value
    if name == "mobile":
        return value.replace(" ", "").replace("-", "").removeprefix("+")
    return value.strip().lower() if name == "email" else value


class World:
    """The directory plus what requests changed; :meth:`apply_item` is the API."""

    def __init__(self, config: SimConfig, table: Mapping[str, Any] | None = None) -> None:
        self.config = config
        self.allow_relinking = config.allow_relinking
        self.track = config.track
        self.catalog = catalog = catalog_of(table)
        self.nprog = catalog.size     # the stride of the state: one byte per program slot
        self.directory: FormulaDirectory | TableDirectory = (
            TableDirectory(table, catalog) if table is not None
            else FormulaDirectory(config.seed, config.customers))
        self.customers = self.directory.customers
        self.reset()

    def reset(self) -> None:
        # One byte per (customer, program): 5 MB for a million customers.
        self._state = bytearray(self.customers * self.nprog)
        # customer index -> [(partnerProgramName, updateType, updatedTierName)], in order
        self.applied: dict[int, list[tuple[Any, Any, Any]]] = {}
        self.seen: dict[int, int] = {}
        # Links (``linking.py``): successful links, and per (customer, program
        # index) how many succeeded, when tracking; more than one is a link
        # applied twice.
        self.links_applied = self.links_resent = 0
        self.links: dict[tuple[int, int], int] = {}
        # (customer, program) slot -> expiry epoch set by an applied update (the read)
        self.expiries: dict[int, float] = {}

    # -- queries ---------------------------------------------------------------
    def locate(self, customer: Any) -> int | None:
        return self.directory.locate(customer)

    def link(self, i: int, program: str) -> tuple[str | None, bool]:
        """(current tier or None when not linked, pending relink?) for tests and samples."""
        p = self.catalog.index[program]
        packed = self._packed(i, p)
        tier = packed & TIER_MASK
        return (self.catalog.tiers[program][tier - 1] if tier else None), bool(packed & PENDING)

    def programs(self, i: int) -> list[tuple[str, str, float]]:
        """(program, tier, expiry epoch) of every program ``i`` is linked to: what
        the read endpoint shows. An expiry no update set is the formula's own."""
        out = []
        for p, name in enumerate(self.catalog.names):
            tier = self._packed(i, p) & TIER_MASK
            if tier:
                expiry = self.expiries.get(i * self.nprog + p,
                                           DEFAULT_EXPIRY + 86_400 * (i % 365))
                out.append((name, self.catalog.tiers[name][tier - 1], expiry))
        return out

    def _packed(self, i: int, p: int) -> int:
        stored = self._state[i * self.nprog + p]
        return stored & ~CHANGED if stored else self.directory.base(i, p)

    def packed(self, i: int, p: int) -> int:
        """The packed byte of (customer, program index) as it stands now."""
        return self._packed(i, p)

    def store(self, i: int, p: int, packed: int) -> None:
        """Keep a changed link state (``linking.py`` links through this)."""
        self._state[i * self.nprog + p] = CHANGED | packed

    # -- the API ---------------------------------------------------------------
    def apply_item(self, item: Any, now: float) -> tuple[int, list[int]]:
        """Apply one ITEM: (customer code, one code per program update)."""
        outcomes, _, _ = self.apply_items([item], now)
        return outcomes[0]

    def apply_items(self, items: list[Any], now: float,
                    located: list[int | None] | None = None
                    ) -> tuple[list[tuple[int, list[int]]], int, int]:
        """Apply ITEMs in order: ([(customer code, update codes)], updates ok, failed).

        The customer code is 1000 (found), 8015 (not found: every update answers
        8015 too) or 2002 (found, but partnerProgramUpdates is missing or empty). A
        customer that fails with no updates counts as one failure. ``located`` holds
        the :meth:`locate` answers when the caller already has them.
        """
        locate = self.directory.locate
        apply_update = self._apply_update
        seen = self.seen if self.track else None
        outcomes: list[tuple[int, list[int]]] = []
        ok = failed = 0
        for n, item in enumerate(items):
            updates = item.get("partnerProgramUpdates") if type(item) is dict else None
            i = (locate(item.get("customer")) if type(item) is dict else None) \
                if located is None else located[n]
            if i is None:
                codes = [8015] * len(updates) if type(updates) is list else []
                failed += len(codes) or 1
                outcomes.append((8015, codes))
                continue
            if seen is not None:
                seen[i] = seen.get(i, 0) + 1
            if type(updates) is not list or not updates:
                failed += 1
                outcomes.append((2002, []))
                continue
            if len(updates) == 1:  # the common case, without a comprehension's frame
                code = apply_update(i, updates[0], now)
                codes = [code]
                good = 1 if code == 200 else 0
            else:
                codes = [apply_update(i, update, now) for update in updates]
                good = codes.count(200)
            ok += good
            failed += len(codes) - good
            outcomes.append((1000, codes))
        return outcomes, ok, failed

    def _apply_update(self, i: int, update: Any, now: float) -> int:
        if type(update) is not dict:
            return 2002
        get = update.get
        name = get("partnerProgramName")
        p = self.catalog.index.get(name) if type(name) is str else None
        if p is None and (type(name) is not str or not name.strip()):
            return 2002
        kind = get("updateType")
        details = get("updateDetails")
        tier = None
        when = None
        if type(kind) is str and kind in NEEDS_DETAILS:
            if type(details) is not dict:
                return 2002
            tier = details.get("updatedTierName")
            if type(tier) is not str or not tier.strip():
                return 2002
        elif kind != CANCEL:
            return 2009
        if type(details) is dict:
            expiry = details.get("updatedTierExpiryDate")
            if expiry is not None:
                when = expiry_epoch(expiry) if type(expiry) is str else None
                if when is None or when < now:
                    return 2003
        if p is None:
            return 2006
        slot = i * self.nprog + p
        stored = self._state[slot]
        packed = stored & ~CHANGED if stored else self.directory.base(i, p)
        if not packed & TIER_MASK:
            return 2004
        if kind == CANCEL:
            # The tier is not touched by a cancel, so its name is not checked.
            if not self.allow_relinking:
                return 2026
            if not packed & PENDING:
                return 2027
            self._state[slot] = CHANGED | (packed & ~PENDING)
        else:
            t = self.catalog.tier_index[p].get(tier)  # type: ignore[arg-type]
            if t is None:
                return 2007
            if kind == RENEWAL and self.allow_relinking:
                return 2028
            self._state[slot] = CHANGED | (packed & PENDING) | (t + 1)
            if when is not None:
                self.expiries[slot] = when
        if self.track:
            log = self.applied.get(i)
            if log is None:
                log = self.applied[i] = []
            log.append((name, kind, tier))
        return 200
