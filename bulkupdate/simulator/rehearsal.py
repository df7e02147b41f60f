"""Rehearsing tonight's file: a world built from the operator's own input
(``bulkupdate simulate --world-from INPUT``), and what the simulator says on
stderr when it starts — the credentials it accepts, its programs and tiers, a few
customers of each identifier kind — so nobody has to read its source to use it.

The world holds every customer the file names (by the identifiers it names them
with; a 10-digit mobile stored with the org's country code, as Capillary does)
and every program it names, with every tier it names. For update input each
customer is linked to the programs its lines update, at the program's first tier,
so the night's updates apply; for link input nobody is linked yet, so the links
do. The file's mistakes stay mistakes: lines that are not records are skipped.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import orjson

from ..base.words import plural
from .world import DEFAULT_COUNTRY_CODE, IDENTIFIERS, World

LINK_KEY = "linkToPartnerPrograms"
UPDATE_KEY = "partnerProgramUpdates"
SHOWN = 3          # customers shown per identifier kind


def world_from_input(path: Path) -> dict[str, Any]:
    """A world file's table (:class:`~bulkupdate.simulator.world.TableDirectory`)
    holding the customers and programs of the input at ``path`` (JSONL or CSV)."""
    from ..source.lines import iter_lines

    api = _api_of(path)
    tiers: dict[str, list[str]] = {}
    customers: list[dict[str, Any]] = []
    by_key: dict[tuple[str, Any], int] = {}
    for item in _items(iter_lines(path, api=api)):
        ident = _identity(item.get("customer"))
        if not ident:
            continue
        index = next((by_key[k] for k in ident.items() if k in by_key), None)
        if index is None:
            index = len(customers)
            customers.append({**ident, "programs": {}})
        for key in ident.items():
            by_key.setdefault(key, index)
        row = customers[index]
        for program, tier in _programs(item):
            known = tiers.setdefault(program, [])
            if tier and tier not in known:
                known.append(tier)
            if api == "update":
                row["programs"].setdefault(program, {})
    if not tiers:
        raise ValueError(f"{path}: no records naming a customer and a program")
    for known in tiers.values():
        if not known:
            known.append("Base")
    for row in customers:     # linked at the program's first tier: the updates move it
        row["programs"] = {p: {"tier": tiers[p][0]} for p in row["programs"]}
    return {"programs": tiers, "customers": customers}


def _api_of(path: Path) -> str:
    """Link or update input, from its CSV header or its first records."""
    from ..source.files import is_csv, open_input

    with open_input(path) as fh:
        head = fh.read(1 << 16)
    if is_csv(path):
        return "link" if b"partnerTierName" in head.split(b"\n", 1)[0] else "update"
    return "link" if LINK_KEY.encode() in head and UPDATE_KEY.encode() not in head \
        else "update"


def _items(lines: Iterator[tuple[int, bytes]]) -> Iterator[dict[str, Any]]:
    for _, raw in lines:
        try:
            item = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        if isinstance(item, dict):
            yield item


def _identity(customer: Any) -> dict[str, Any]:
    if not isinstance(customer, dict):
        return {}
    out: dict[str, Any] = {}
    for name in IDENTIFIERS:
        value = customer.get(name)
        if name == "id":
            if type(value) is int and value > 0:
                out[name] = value
        elif isinstance(value, str) and value.strip():
            value = value.strip()
            if name == "mobile":
                digits = value.lstrip("+").replace(" ", "").replace("-", "")
                if not digits.isdigit():
                    continue
                value = DEFAULT_COUNTRY_CODE + digits if len(digits) == 10 else digits
            out[name] = value
    return out


def _programs(item: dict[str, Any]) -> Iterator[tuple[str, str | None]]:
    for entry in itertools.chain(item.get(UPDATE_KEY) or (), item.get(LINK_KEY) or ()):
        if not isinstance(entry, dict) or not isinstance(entry.get("partnerProgramName"), str):
            continue
        details = entry.get("updateDetails") or entry.get("customerPartnerReference") or {}
        tier = details.get("updatedTierName") or details.get("partnerTierName") \
            if isinstance(details, dict) else None
        yield entry["partnerProgramName"], tier if isinstance(tier, str) else None


def describe_rehearsal(world: World, credentials: dict[str, Any], out: TextIO, *,
             mine: bool = False, base_url: str = "") -> None:
    """What a rehearsal needs to know, on stderr at start. ``mine``: the world is
    the operator's own file (``--world-from``): its customers are counted, never
    shown (they are real people's mobiles and e-mails)."""
    w = out.write
    if credentials.get("username"):
        w(f"simulate: accepts Basic CAPILLARY_USERNAME={credentials['username']} "
          f"CAPILLARY_PASSWORD={credentials['password']}, or OAuth CAPILLARY_CLIENT_KEY="
          f"{credentials['client_key']} CAPILLARY_CLIENT_SECRET={credentials['client_secret']}"
          " (fake: for this simulator only)\n")
    else:
        w("simulate: accepts any request (--no-auth)\n")
    for name, tiers in world.catalog.tiers.items():
        w(f"simulate: program {name}: tiers {', '.join(tiers)}\n")
    if base_url:
        w(f"simulate: rehearse with --base-url {base_url} and those credentials in the "
          "environment (docs/rehearsal.md)\n")
    if mine:
        w(f"simulate: {plural(world.customers, 'customer')}, those of the input\n")
        return
    w(f"simulate: {plural(world.customers, 'customer')}; a few, by each identifier kind:\n")
    for kind in IDENTIFIERS:
        shown = list(itertools.islice(_having(world, kind), SHOWN))
        if shown:
            w(f"simulate:   {kind}: {', '.join(str(v) for v in shown)}\n")


def _having(world: World, kind: str) -> Iterator[Any]:
    """Values of identifier ``kind`` of customers linked to some program, first."""
    limit = min(world.customers, 10_000)
    for i in range(limit):
        value = world.directory.identity(i).get(kind)
        if value not in (None, "") and world.programs(i):
            yield value
