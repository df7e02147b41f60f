"""The Link Customer API's rules in the simulated world. Pure, like ``world``.

``POST /v2/partnerProgram/linkCustomer`` links each ITEM's customer to the
programs of its ``linkToPartnerPrograms``; a link writes the same packed byte
an update reads, so a customer linked here answers updates (no more 2004) with
the tier linked, and the read endpoint shows the tier and the expiry linked.
Rules for one program link, first match wins:

2002  the entry, ``partnerProgramName``, ``customerPartnerReference`` or its
      ``partnerTierName`` missing or empty, or a ``membershipStartDate`` that is
      not a date-time
2003  a ``partnerTierExpiryDate`` that is malformed or in the past
2006  unknown program;  2007 a tier the program does not have
200   not linked yet: linked, with that tier
200   already linked to the supplementary program, with a future
      ``membershipStartDate``, relinking allowed and none pending: a
      future-dated relink is queued (the pending relink an update's
      MEMBERSHIP_RELINKING_CANCELLED cancels)
2005  otherwise already linked

The world counts what links did, when tracking: successes per (customer,
program) — more than one is a link applied twice (a relink queued by a link
re-sent after its reply was lost is one) — and 2005s for pairs this simulator
itself linked (a link re-sent after it was applied).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .world import PENDING, TIER_MASK, World, expiry_epoch

LINKS_KEY = "linkToPartnerPrograms"
LINK_MESSAGES = {
    2002: "Invalid Request: partnerProgramName, customerPartnerReference or partnerTierName "
          "is empty or malformed",
}
Outcomes = list[tuple[int, list[int]]]


def link_items(world: World, items: list[Any], now: float,
               located: list[int | None]) -> tuple[Outcomes, int, int]:
    """Link ITEMs in order: ([(customer code, link codes)], links ok, failed).

    The customer code is 1000 (found), 8015 (not found: every link answers 8015
    too) or 2002 (found, but ``linkToPartnerPrograms`` is missing or empty).
    """
    done = each_program(items, located, LINKS_KEY,
                        lambda i, link: link_one(world, i, link, now))
    world.links_applied += done[1]
    return done


def each_program(items: list[Any], located: list[int | None], programs_key: str,
                 one: Callable[[int, Any], int]) -> tuple[Outcomes, int, int]:
    """Every program entry of each located item through ``one`` (link or delink),
    in order: ([(customer code, program codes)], ok, failed). A customer not found
    answers 8015 for each entry; one found with no entries, 2002."""
    outcomes: Outcomes = []
    ok = failed = 0
    for item, i in zip(items, located, strict=True):
        entries = item.get(programs_key) if type(item) is dict else None
        if i is None:
            codes = [8015] * len(entries) if type(entries) is list else []
            failed += len(codes) or 1
            outcomes.append((8015, codes))
            continue
        if type(entries) is not list or not entries:
            failed += 1
            outcomes.append((2002, []))
            continue
        codes = [one(i, entry) for entry in entries]
        good = codes.count(200)
        ok += good
        failed += len(codes) - good
        outcomes.append((1000, codes))
    return outcomes, ok, failed


def link_one(world: World, i: int, link: Any, now: float) -> int:
    """One program link of customer ``i``: its code, the world changed on 200."""
    checked = _checked(world, link, now)
    if isinstance(checked, int):
        return checked
    p, t, start, expiry = checked
    packed = world.packed(i, p)
    if not packed & TIER_MASK:
        world.store(i, p, (packed & PENDING) | (t + 1))
        if expiry is not None:   # what the read endpoint then shows, as after an update
            world.expiries[i * world.nprog + p] = expiry
    elif (p == world.catalog.supplementary and world.allow_relinking and start is not None
          and start > now and not packed & PENDING):
        world.store(i, p, packed | PENDING)
    else:
        if world.track and (i, p) in world.links:
            world.links_resent += 1
        return 2005
    if world.track:
        world.links[i, p] = world.links.get((i, p), 0) + 1
    return 200


def _checked(world: World, link: Any,
             now: float) -> int | tuple[int, int, float | None, float | None]:
    """A code for a link refused before the customer's state is read, or
    (program index, tier index, start epoch or None, expiry epoch or None)."""
    if type(link) is not dict:
        return 2002
    name = link.get("partnerProgramName")
    reference = link.get("customerPartnerReference")
    if type(name) is not str or not name.strip() or type(reference) is not dict:
        return 2002
    tier = reference.get("partnerTierName")
    if type(tier) is not str or not tier.strip():
        return 2002
    start = reference.get("membershipStartDate")
    start_at = None
    if start is not None:
        start_at = expiry_epoch(start) if type(start) is str else None
        if start_at is None:
            return 2002
    expiry = reference.get("partnerTierExpiryDate")
    when = None
    if expiry is not None:
        when = expiry_epoch(expiry) if type(expiry) is str else None
        if when is None or when < now:
            return 2003
    p = world.catalog.index.get(name)
    if p is None:
        return 2006
    t = world.catalog.tier_index[p].get(tier)
    if t is None:
        return 2007
    return p, t, start_at, when


def links_applied_twice(world: World) -> int | None:
    """(customer, program) pairs linked more than once; None when not tracking."""
    if not world.track:
        return None
    return sum(1 for n in world.links.values() if n > 1)
