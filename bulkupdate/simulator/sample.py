"""Sample input for the simulator's world, each line with the outcome it will get.

:func:`generate_sample` streams ``(line_bytes, expected)`` pairs. It keeps a private
:class:`World` built from the same config and applies every valid record in file
order, so ``expected`` is exactly what the simulator answers when the valid records
are sent in order (blank and invalid lines are never sent). ``expected`` is::

    {"outcome": "ok" | "already" | "partial" | "rejected", "codes": [per-program code, ...],
     "customer": world index or None}
    {"outcome": "invalid", "codes": [], "field": "partnerProgramUpdates[0].updateType"}
    {"outcome": "blank"}

Most lines are good; ``bad_fraction`` of them spreads evenly over every failure
kind below (server-side codes, partial records, repeated customers, locally
invalid lines); about 1% are blank. A customer is always named with the same
identifiers within one file, so a client can tell its records belong together;
mobiles named alone are written without their country code and emails named alone
in mixed case, as people write them (the simulator answers the stored forms).
"""

from __future__ import annotations

import contextlib
import gzip
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from .config import SimConfig
from .loader import load_world
from .world import (
    CANCEL,
    DOWNGRADE,
    IDENTIFIERS,
    PROGRAM_NAMES,
    PROGRAMS,
    RENEW,
    RENEWAL,
    SUPPLEMENTARY,
    UPGRADE,
    World,
)

Record = dict[str, Any]
# What a kind builder yields: ("record", dict) to send, ("invalid", dict | bytes, field).
Piece = tuple[str, Any, str | None]
_OFFSETS = ("+05:30", "Z", "+00:00", "+01:00", "-04:00", "+05:30", "Z")
_BLANKS = (b"", b" ", b"\t", b"   ", b" \t ")
# How a customer is named in the file; ("mobile", "") is the API example's style.
_STYLES: tuple[tuple[str, ...], ...] = (
    ("id",), ("id",), ("mobile",), ("mobile",), ("email",), ("email",), ("externalId",),
    ("externalId",), ("mobile", ""), ("id", "email"))


def _national(mobile: str) -> str:
    """As people write a mobile: without the country code the API stores it with."""
    return mobile[2:] if len(mobile) == 12 and mobile.startswith("91") else mobile


def _mixed_case(email: str) -> str:
    """As people write an email: the API stores it lower-cased."""
    name, _, domain = email.partition("@")
    return f"{name[:1].upper()}{name[1:]}@{domain.capitalize()}" if domain else email


class _Maker:
    """Builds records for one world from one seeded rng. Every choice is random
    but seeded; outcomes are not assumed here but computed by the caller."""

    def __init__(self, world: World, rng: random.Random) -> None:
        self.world = world
        self.rng = rng
        self.salt = rng.getrandbits(32)
        self.allow = world.allow_relinking

    # -- pieces ---------------------------------------------------------------
    def expiry(self) -> str:
        r = self.rng
        return (f"{r.randint(2027, 2030)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}"
                f"T{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}"
                f"{r.choice(_OFFSETS)}")

    def customer(self, i: int) -> dict[str, Any]:
        """How the file names customer ``i``: always the same way, because a client
        can only keep one customer's records in order if it can tell they are one
        customer (an email and an externalId of the same person look unrelated)."""
        ident = self.world.directory.identity(i)
        keys = [k for k in IDENTIFIERS if k in ident]
        if not keys:
            return self.ghost()
        style = _STYLES[(i * 0x9E3779B1 + self.salt) % 1_000_003 % len(_STYLES)]
        if not all(k in ident for k in style if k):
            return {keys[0]: ident[keys[0]]}  # a hand-written world may lack some
        if style == ("mobile", ""):
            return {"mobile": ident["mobile"], "email": "", "externalId": ""}  # the API's example
        if style == ("mobile",):
            return {"mobile": _national(ident["mobile"])}
        if style == ("email",):
            return {"email": _mixed_case(ident["email"])}
        return {k: ident[k] for k in style}

    def ghost(self) -> dict[str, Any]:
        """An identifier no customer has."""
        k = self.rng.randrange(1, 10**6)
        key = self.rng.choice(IDENTIFIERS)
        value = {"id": 100_000 + self.world.customers + k, "mobile": f"9198{k:08d}",
                 "email": f"nobody{k}@example.org", "externalId": f"Z{k:08d}"}[key]
        return {key: value}

    def tier_update(self, program: str, kind: str | None = None,
                    tier: str | None = None) -> dict[str, Any]:
        r = self.rng
        if kind is None:
            kinds = [UPGRADE, DOWNGRADE, RENEW] + ([] if self.allow else [RENEWAL])
            kind = r.choice(kinds)
        details: dict[str, Any] = {"updatedTierName": tier or r.choice(PROGRAMS[program])}
        if r.random() < 0.7:
            details["updatedTierExpiryDate"] = self.expiry()
        return {"partnerProgramName": program, "updateType": kind, "updateDetails": details}

    def linked_customer(self, want: Callable[[int], list[str]]) -> tuple[int, list[str]]:
        """A customer for whom ``want(i)`` is non-empty (a few tries, then any)."""
        n = self.world.customers
        i = 0
        for _ in range(50):
            i = self.rng.randrange(n)
            found = want(i)
            if found:
                return i, found
        return i, []

    def linked(self, i: int) -> list[str]:
        return [p for p in PROGRAM_NAMES if self.world.link(i, p)[0]]

    def unlinked(self, i: int) -> list[str]:
        return [p for p in PROGRAM_NAMES if not self.world.link(i, p)[0]]

    def pending(self, i: int) -> list[str]:
        return [p for p in PROGRAM_NAMES if self.world.link(i, p)[1]]

    def no_pending(self, i: int) -> list[str]:
        return [p for p in self.linked(i) if not self.world.link(i, p)[1]]

    def record(self, i: int, updates: list[dict[str, Any]]) -> Record:
        return {"customer": self.customer(i), "partnerProgramUpdates": updates}

    # -- good records -----------------------------------------------------------
    def good(self) -> Iterator[Piece]:
        r = self.rng
        i, programs = self.linked_customer(self.linked)
        if not programs:
            yield "record", {"customer": self.ghost(),
                             "partnerProgramUpdates": [self.tier_update("Fuel-Partner")]}, None
            return
        count = min(len(programs), r.choices((1, 2, 3), (6, 3, 1))[0])
        updates = []
        for program in r.sample(programs, count):
            if self.allow and self.world.link(i, program)[1] and r.random() < 0.5:
                updates.append({"partnerProgramName": program, "updateType": CANCEL})
            else:
                updates.append(self.tier_update(program))
        yield "record", self.record(i, updates), None

    # -- records the API rejects --------------------------------------------------
    def not_found(self) -> Iterator[Piece]:
        updates = [self.tier_update(p) for p in self.rng.sample(PROGRAM_NAMES[:4], 2)]
        yield "record", {"customer": self.ghost(),
                         "partnerProgramUpdates": updates[: self.rng.randint(1, 2)]}, None

    def not_linked(self) -> Iterator[Piece]:
        i, programs = self.linked_customer(self.unlinked)
        program = self.rng.choice(programs or list(PROGRAM_NAMES))
        yield "record", self.record(i, [self.tier_update(program)]), None

    def unknown_program(self) -> Iterator[Piece]:
        i = self.rng.randrange(self.world.customers)
        name = self.rng.choice(("Shoes-Partner", "apparel-partner", "SPP_2", "Dining Partner"))
        yield "record", self.record(i, [self.tier_update("Apparel-Partner") | {
            "partnerProgramName": name}]), None

    def unknown_tier(self) -> Iterator[Piece]:
        i, programs = self.linked_customer(self.linked)
        program = self.rng.choice(programs or list(PROGRAM_NAMES))
        tier = self.rng.choice(("Diamond", "gold", "Titanium", "Basic+"))
        yield "record", self.record(i, [self.tier_update(program, tier=tier)]), None

    def cancel_no_pending(self) -> Iterator[Piece]:
        i, programs = self.linked_customer(self.no_pending)
        program = self.rng.choice(programs or [SUPPLEMENTARY])
        yield "record", self.record(i, [{"partnerProgramName": program,
                                         "updateType": CANCEL}]), None

    def relink_setting(self) -> Iterator[Piece]:
        """2028 when relinking is allowed (renewal refused), 2026 when it is not."""
        if self.allow:
            i, programs = self.linked_customer(self.linked)
            program = self.rng.choice(programs or list(PROGRAM_NAMES))
            update = self.tier_update(program, kind=RENEWAL)
        else:
            i, _ = self.linked_customer(self.pending)
            update = {"partnerProgramName": SUPPLEMENTARY, "updateType": CANCEL}
        yield "record", self.record(i, [update]), None

    def partial(self) -> Iterator[Piece]:
        i, programs = self.linked_customer(self.linked)
        good = self.tier_update(self.rng.choice(programs or list(PROGRAM_NAMES)),
                                kind=self.rng.choice((UPGRADE, DOWNGRADE, RENEW)))
        bad = self.tier_update(self.rng.choice(PROGRAM_NAMES[:4]), tier="Diamond")
        pair = [good, bad] if self.rng.random() < 0.5 else [bad, good]
        yield "record", self.record(i, pair), None

    def repeated(self) -> Iterator[Piece]:
        """2-4 records in a row for one customer: their order decides the answers."""
        i, programs = self.linked_customer(self.pending if self.allow else self.linked)
        program = self.rng.choice(programs or list(PROGRAM_NAMES))
        tiers = PROGRAMS[program]
        steps = [self.tier_update(program, kind=UPGRADE, tier=tiers[-1]),
                 self.tier_update(program, kind=DOWNGRADE, tier=tiers[0])]
        if self.allow:
            cancel = {"partnerProgramName": program, "updateType": CANCEL}
            steps[1:1] = [cancel, dict(cancel)]  # the second cancel finds nothing: 2027
        for update in steps[: self.rng.randint(2, len(steps))]:
            yield "record", self.record(i, [update]), None

    # -- lines the client must reject before sending --------------------------------
    def invalid(self, field: str, mutate: Callable[[Record], Any]) -> Iterator[Piece]:
        i = self.rng.randrange(self.world.customers)
        record = self.record(i, [self.tier_update(self.rng.choice(PROGRAM_NAMES))])
        out = mutate(record)
        yield "invalid", out if isinstance(out, bytes) else record, field

    def bad_json(self, record: Record) -> bytes:
        raw = orjson.dumps(record)
        return raw[:-1] if self.rng.random() < 0.5 else raw[:-1] + b",}"

    def bad_utf8(self, record: Record) -> bytes:
        record["customer"] = {"email": "user\x00marker@example.com"}
        return orjson.dumps(record).replace(b"\\u0000marker", b"\xff\xfe")

    def set_expiry(self, value: str) -> Callable[[Record], None]:
        def mutate(record: Record) -> None:
            update = record["partnerProgramUpdates"][0]
            update["updateDetails"]["updatedTierExpiryDate"] = value
        return mutate


def _kinds(maker: _Maker) -> list[Callable[[], Iterator[Piece]]]:
    m = maker
    r = m.rng
    upd0 = "partnerProgramUpdates[0]"
    expiry = f"{upd0}.updateDetails.updatedTierExpiryDate"

    def first(record: Record) -> dict[str, Any]:
        return record["partnerProgramUpdates"][0]

    def unknown_key() -> Iterator[Piece]:
        key = r.choice(("note", "customerId", "priority"))
        return m.invalid(key, lambda record: record.update({key: "x"}))

    return [
        m.not_found, m.not_linked, m.unknown_program, m.unknown_tier, m.cancel_no_pending,
        m.relink_setting, m.partial, m.repeated,
        lambda: m.invalid("json", m.bad_json),
        lambda: m.invalid("utf-8", m.bad_utf8),
        lambda: m.invalid("customer", lambda rec: rec.update(customer={})),
        lambda: m.invalid(f"{upd0}.updateType", lambda rec: first(rec).update(
            updateType=r.choice(("PROMOTE", "upgrade", "UPGRADE_TIER", "")))),
        lambda: m.invalid(f"{upd0}.updateDetails", lambda rec: first(rec).update(
            updateType=UPGRADE) or first(rec).pop("updateDetails")),
        lambda: m.invalid(f"{upd0}.updateDetails.updatedTierName", lambda rec: first(rec).update(
            updateType=RENEW) or first(rec)["updateDetails"].pop("updatedTierName")),
        lambda: m.invalid(expiry, m.set_expiry(r.choice(
            ("2020-05-01T10:00:00+05:30", "2019-12-31T23:59:59Z")))),
        lambda: m.invalid(expiry, m.set_expiry("2027-12-29T23:59:59")),
        lambda: m.invalid(expiry, m.set_expiry("2027-12-29")),
        unknown_key,
        lambda: m.invalid("partnerProgramUpdates",
                          lambda rec: rec.update(partnerProgramUpdates=[])),
        lambda: m.invalid("customer.id", lambda rec: rec.update(
            customer={"id": r.choice((0, -42, -100001))})),
        lambda: m.invalid("ref", lambda rec: rec.update(ref=r.choice((17, ["row-1"], 3.5)))),
    ]


def _outcome(world: World, record: Record, now: float) -> dict[str, Any]:
    i = world.locate(record.get("customer"))
    _, codes = world.apply_item(record, now)
    good = codes.count(200)
    # A cancel with no pending relink (2027): the goal holds, "already" (not "ok").
    held = sum(code == 2027 and update.get("updateType") == CANCEL
               for code, update in zip(codes, record["partnerProgramUpdates"], strict=False))
    if codes and good == len(codes):
        outcome = "ok"
    elif codes and good + held == len(codes):
        outcome = "already"
    else:
        outcome = "partial" if good + held else "rejected"
    return {"outcome": outcome, "codes": codes, "customer": i}


def generate_sample(config: SimConfig, n: int, *, seed: int = 1,
                    bad_fraction: float = 0.2) -> Iterator[tuple[bytes, dict[str, Any]]]:
    """``n`` physical lines (without newline) of JSONL input with their expected outcome."""
    if not 0.0 <= bad_fraction <= 1.0:
        raise ValueError(f"bad_fraction is in [0, 1], got {bad_fraction}")
    world = load_world(replace(config, track=False))
    if world.customers == 0:
        raise ValueError("a sample needs a world with at least one customer")
    rng = random.Random(seed)
    maker = _Maker(world, rng)
    kinds = _kinds(maker)
    now = time.time()
    line = 0
    while line < n:
        roll = rng.random()
        if roll < 0.01:
            pieces: Iterator[Piece] = iter([("blank", rng.choice(_BLANKS), None)])
        elif roll < 0.01 + bad_fraction * 0.99:
            pieces = rng.choice(kinds)()
        else:
            pieces = maker.good()
        for kind, body, field in pieces:
            if line >= n:
                break
            line += 1
            if kind == "blank":
                yield body, {"outcome": "blank"}
                continue
            if isinstance(body, dict) and "ref" not in body and rng.random() < 0.5:
                body = {"ref": f"row-{line}", **body}
            if kind == "invalid":
                raw = body if isinstance(body, bytes) else orjson.dumps(body)
                yield raw, {"outcome": "invalid", "codes": [], "field": field}
                continue
            sent = {k: v for k, v in body.items() if k != "ref"}
            yield orjson.dumps(body), _outcome(world, sent, now)


def write_sample(path: str | Path, config: SimConfig, n: int, *, seed: int = 1,
                 bad_fraction: float = 0.2,
                 expected_path: str | Path | None = None) -> dict[str, int]:
    """Write the sample (gzip when ``path`` ends in .gz); counts per expected outcome.

    With ``expected_path``, also one JSON line per input line: ``{"line": N, **expected}``.
    """
    counts: dict[str, int] = {}
    with _open(path) as out, _open(expected_path) as exp:
        for number, (raw, expected) in enumerate(
                generate_sample(config, n, seed=seed, bad_fraction=bad_fraction), 1):
            out.write(raw + b"\n")
            if exp is not None:
                exp.write(orjson.dumps({"line": number, **expected}) + b"\n")
            counts[expected["outcome"]] = counts.get(expected["outcome"], 0) + 1
    return counts


def _open(path: str | Path | None) -> Any:
    if path is None:
        return contextlib.nullcontext(None)
    target = Path(path)
    if target.suffix == ".gz":
        return gzip.open(target, "wb")  # the caller's with closes it
    return target.open("wb")
