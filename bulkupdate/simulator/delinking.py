"""The delink API's rules in the simulated world, and its answer. Pure, like ``world``.

``POST /v2/partnerProgram/deLinkCustomer`` delinks each ITEM's customer from the
programs of its ``deLinkFromPartnerPrograms`` (entries name ``partnerProgramName``
only); a delink clears the same packed byte links and updates read, so a
customer delinked here answers updates with 2004 and links again with 200, and
the read endpoint no longer shows the program. Rules for one program, first
match wins:

2002  the entry or its ``partnerProgramName`` missing or empty
2006  unknown program
2004  not linked to it (for a delink night: the goal already holds)
200   linked: delinked (tier, pending relink and expiry forgotten)

A customer not found answers 8015 (every program too). Two answer shapes, as
Capillary's pages disagree (``delink_form``): ``"delink"`` (the default, the
older page's) answers ``deLinkCustomers[].deLinkFromPartnerPrograms[].
partnerDeLinkStatus``; ``"update"`` (the current page's copy of the update
API's sample) answers ``customersPartnerUpdates[].partnerProgramUpdates[].
updateStatus``. ``first_customer_only`` makes a server without batch support:
only the first customer of a request is processed and answered.

:class:`DelinkBook` counts, for tests, what a client cannot know on its own:
``delinks_after_unknown`` is the 2004s answered (and delivered) for a
(customer, program) whose previous delink request went without an answer the
client could read (dropped, lost, cut short, 500/502/504, or left out of a short
answer) — exactly the 2004s a client should note "delinked by the lost attempt
or before this run". :class:`UnknownFates` counts the same for links (2005s).
"""

from __future__ import annotations

from typing import Any

import orjson

from .linking import Outcomes, each_program
from .world import MESSAGES, TIER_MASK, World

DELINK_PATH = "/v2/partnerProgram/deLinkCustomer"
DELINK_BODY_KEY = "deLinkCustomers"
DELINK_PROGRAMS_KEY = "deLinkFromPartnerPrograms"
DELINK_FORMS = ("delink", "update")
# Faults a client cannot tell from an applied request (it saw no answer it could read).
UNANSWERED_FAULTS = frozenset({"p_drop", "p_500", "p_502", "p_504", "p_lost", "p_truncate",
                               "p_gateway"})
DELINK_MESSAGES = {
    200: "Customer delinked from the partner program",
    2002: "Invalid Request: partnerProgramName is empty",
    2004: "Customer is not linked to the partner program",
}
# (body key, programs key, status key) per answer form.
_SHAPES = {"delink": (DELINK_BODY_KEY, DELINK_PROGRAMS_KEY, "partnerDeLinkStatus"),
           "update": ("customersPartnerUpdates", "partnerProgramUpdates", "updateStatus")}


class UnknownFates:
    """(customer, program) pairs of one endpoint whose last request went without
    an answer the client could read, and how many ``goal`` codes (the state the
    request wanted already held: 2005 for a link, 2004 for a delink) were then
    answered, and delivered, for such a pair."""

    def __init__(self, programs_key: str, goal: int) -> None:
        self.programs_key = programs_key
        self.goal = goal
        self.pairs: set[tuple[int, int]] = set()
        self.after_unknown = 0

    def settle(self, pair: tuple[int, int], code: int, delivered: bool) -> None:
        if not delivered:
            self.pairs.add(pair)
        elif pair in self.pairs:
            self.pairs.discard(pair)
            self.after_unknown += code == self.goal

    def answered(self, world: World, items: list[Any], located: list[int | None],
                 outcomes: Outcomes, delivered: bool) -> None:
        """What the requests' processed items answered, per (customer, program)."""
        for item, i, (customer_code, codes) in zip(items, located, outcomes, strict=True):
            if i is None or customer_code != 1000:
                continue
            for entry, code in zip(item[self.programs_key], codes, strict=True):
                p = _program(world, entry)
                if p is not None:
                    self.settle((i, p), code, delivered)

    def not_answered(self, world: World, items: list[Any],
                     located: list[int | None] | None = None) -> None:
        """Items the client will get no readable answer for (nothing applied)."""
        locate = world.directory.locate
        for n, item in enumerate(items):
            if type(item) is not dict:
                continue
            i = locate(item.get("customer")) if located is None else located[n]
            entries = item.get(self.programs_key)
            if i is None or type(entries) is not list:
                continue
            for entry in entries:
                p = _program(world, entry)
                if p is not None:
                    self.pairs.add((i, p))

    def dropped(self, world: World, body: bytes, body_key: str) -> None:
        """A request answered with no readable answer before it was processed."""
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return
        items = data.get(body_key) if type(data) is dict else None
        if type(items) is list:
            self.not_answered(world, items)


def _program(world: World, entry: Any) -> int | None:
    """The program's slot in ``world`` (whose programs may be a rehearsal's own)."""
    name = entry.get("partnerProgramName") if type(entry) is dict else None
    return world.catalog.index.get(name) if type(name) is str else None


class DelinkBook:
    """What delinks did, per simulator (reset with it)."""

    def __init__(self) -> None:
        self.requests = 0
        self.applied = 0
        self.left_out = 0
        self.fates = UnknownFates(DELINK_PROGRAMS_KEY, 2004)

    def stats(self) -> dict[str, int]:
        return {"delink_requests": self.requests, "delinks_applied": self.applied,
                "delinks_after_unknown": self.fates.after_unknown,
                "delink_customers_left_out": self.left_out}

    def apply(self, world: World, items: list[Any], located: list[int | None], *,
              delivered: bool) -> tuple[Outcomes, int, int]:
        """Delink ITEMs in order: ([(customer code, program codes)], ok, failed).
        ``delivered``: the answer reaches the client (not lost, cut or a 504)."""
        outcomes, ok, failed = each_program(items, located, DELINK_PROGRAMS_KEY,
                                            lambda i, entry: delink_one(world, i, entry))
        self.applied += ok
        self.fates.answered(world, items, located, outcomes, delivered)
        return outcomes, ok, failed


def delink_one(world: World, i: int, entry: Any) -> int:
    """One program delink of customer ``i``: its code, the world changed on 200."""
    name = entry.get("partnerProgramName") if type(entry) is dict else None
    if type(name) is not str or not name.strip():
        return 2002
    p = world.catalog.index.get(name)
    if p is None:
        return 2006
    if not world.packed(i, p) & TIER_MASK:
        return 2004
    world.store(i, p, 0)
    world.expiries.pop(i * world.nprog + p, None)
    world.links.pop((i, p), None)   # linked again later: a new link, not a second
    return 200


def render_delink_response(items: list[Any], located: list[int | None], outcomes: Outcomes,
                           world: World, *, form: str = "delink",
                           echo: bool = False) -> bytes:
    """The answer in ``form`` (``delink`` or ``update``): each customer as stored
    (as sent when not found, or with ``echo``), its status, one status per program."""
    body_key, programs_key, status_key = _SHAPES[form]
    parts = []
    for item, i, (customer_code, codes) in zip(items, located, outcomes, strict=True):
        customer: dict[str, Any] = {}
        sent = item.get("customer") if type(item) is dict else None
        if i is not None and not echo:
            customer.update(world.directory.identity(i))
        elif type(sent) is dict:
            customer.update((k, v) for k, v in sent.items()
                            if k in ("id", "mobile", "email", "externalId"))
        customer["status"] = _customer_status(customer_code)
        entries = item.get(DELINK_PROGRAMS_KEY) if codes else ()
        results = []
        for entry, code in zip(entries, codes, strict=True):
            name = entry.get("partnerProgramName") if type(entry) is dict else None
            results.append({"partnerProgramName": name, status_key: {
                "status": code == 200, "code": code,
                "message": DELINK_MESSAGES.get(code) or MESSAGES[code]}})
        parts.append({"customer": customer, programs_key: results})
    return orjson.dumps({body_key: parts, "warnings": []})


def _customer_status(code: int) -> dict[str, Any]:
    if code == 1000:
        return {"status": True, "message": "Customer successfully retrieved", "code": 1000}
    if code == 8015:
        return {"status": False, "message": "Customer not found", "code": 8015}
    return {"status": False, "code": code,
            "message": f"Invalid Request: {DELINK_PROGRAMS_KEY} is empty"}
