"""The API's response body for what :meth:`World.apply_items` decided. Pure.

The body is assembled as text from pre-encoded pieces instead of dicts passed to
orjson: at 50 items a request, building and serialising the dicts was the largest
cost in the server, and the shape never varies. ``tests/test_simulator_world.py``
checks the text against the same body built as dicts.
"""

from __future__ import annotations

import random
from typing import Any

import orjson

from .linking import LINK_MESSAGES, LINKS_KEY
from .world import IDENTIFIERS, MESSAGES, FormulaDirectory, TableDirectory


def _status(ok: bool, message: str, code: int) -> str:
    return orjson.dumps({"status": ok, "message": message, "code": code}).decode()


UPDATE_STATUS = {code: _status(code == 200, message, code) for code, message in MESSAGES.items()}
CUSTOMER_STATUS = {
    1000: _status(True, "Customer successfully retrieved", 1000),
    8015: _status(False, "Customer not found", 8015),
    # Found, but partnerProgramUpdates was missing, empty or not a list.
    2002: _status(False, "Invalid Request: partnerProgramUpdates is empty", 2002),
}
_ENTRY_CACHE: dict[tuple[Any, Any, int], str] = {}
_ENTRY_CACHE_MAX = 4096  # names echo the request: bound what a hostile client can grow


def entry_json(update: Any, code: int) -> str:
    """One ``partnerProgramUpdates`` result: the name and type sent, and the status."""
    if type(update) is dict:
        key = (update.get("partnerProgramName"), update.get("updateType"), code)
    else:
        key = (None, None, code)
    try:
        return _ENTRY_CACHE[key]
    except KeyError:
        cacheable = True
    except TypeError:  # a list or object where a name belongs: unhashable
        cacheable = False
    name, kind = orjson.dumps(key[0]).decode(), orjson.dumps(key[1]).decode()
    status = UPDATE_STATUS[code]
    text = f'{{"partnerProgramName":{name},"updateType":{kind},"updateStatus":{status}}}'
    if cacheable and len(_ENTRY_CACHE) < _ENTRY_CACHE_MAX:
        _ENTRY_CACHE[key] = text
    return text


def render_update_response(items: list[Any], located: list[int | None],
                           outcomes: list[tuple[int, list[int]]],
                           directory: FormulaDirectory | TableDirectory) -> bytes:
    """``{"customersPartnerUpdates": [...], "warnings": []}`` as JSON bytes.

    A found customer echoes every identifier the world knows; one not found
    echoes the identifiers that were sent.
    """
    identity_json = directory.identity_json
    parts = []
    for item, i, (customer_code, codes) in zip(items, located, outcomes, strict=True):
        if i is not None:
            echo = identity_json(i)
        else:
            customer = item.get("customer") if type(item) is dict else None
            sent = ({k: customer[k] for k in IDENTIFIERS if k in customer}
                    if type(customer) is dict else {})
            echo = orjson.dumps(sent).decode()[1:-1] + "," if sent else ""
        if len(codes) == 1:
            entries = entry_json(item["partnerProgramUpdates"][0], codes[0])
        elif codes:
            updates = item["partnerProgramUpdates"]
            entries = ",".join([entry_json(u, c) for u, c in zip(updates, codes, strict=True)])
        else:
            entries = ""
        status = CUSTOMER_STATUS[customer_code]
        parts.append(f'{{"customer":{{{echo}"status":{status}}},'
                     f'"partnerProgramUpdates":[{entries}]}}')
    return ('{"customersPartnerUpdates":[' + ",".join(parts) + '],"warnings":[]}').encode()


def _sent_json(item: Any) -> str:
    """The identifiers the request sent, as sent, as JSON object members."""
    customer = item.get("customer") if type(item) is dict else None
    sent = ({k: customer[k] for k in IDENTIFIERS if k in customer}
            if type(customer) is dict else {})
    return orjson.dumps(sent).decode()[1:-1] + "," if sent else ""


def _other_json(i: int) -> str:
    """A customer no request names: not in the world, not in any sample."""
    d8 = str(i).zfill(8)
    return (f'"id":{900_000_000 + i},"mobile":"9199{d8}","email":"other{i}@example.net",'
            f'"externalId":"O{d8}",')


def render_dialled(items: list[Any], located: list[int | None],
                   outcomes: list[tuple[int, list[int]]],
                   directory: FormulaDirectory | TableDirectory, *, form: str = "stored",
                   others: bool = False, rng: random.Random | None = None) -> bytes:
    """:func:`render_update_response` with the answer dials: customers named as
    sent (``form="echo"``) or as other customers (``others``), items and each
    item's programs shuffled (``rng``). The same applied outcomes either way."""
    parts = []
    for item, i, (customer_code, codes) in zip(items, located, outcomes, strict=True):
        if i is None or form == "echo":
            echo = _sent_json(item)
        else:
            echo = _other_json(i) if others else directory.identity_json(i)
        entries = [entry_json(u, c) for u, c in zip(item["partnerProgramUpdates"], codes,
                                                     strict=True)] if codes else []
        if rng is not None:
            rng.shuffle(entries)
        status = CUSTOMER_STATUS[customer_code]
        parts.append(f'{{"customer":{{{echo}"status":{status}}},'
                     f'"partnerProgramUpdates":[{",".join(entries)}]}}')
    if rng is not None:
        rng.shuffle(parts)
    return ('{"customersPartnerUpdates":[' + ",".join(parts) + '],"warnings":[]}').encode()


def render_link_response(items: list[Any], located: list[int | None],
                         outcomes: list[tuple[int, list[int]]],
                         directory: FormulaDirectory | TableDirectory,
                         form: str = "stored") -> bytes:
    """``{"linkCustomers": [...], "warnings": []}``: each customer as stored (as
    sent when not found, or with ``form="echo"``) with its status, and one
    ``partnerLinkStatus`` per program of the request. Built as dicts: links are
    a migration's once-only traffic, not the nightly hot path."""
    parts = []
    for item, i, (customer_code, codes) in zip(items, located, outcomes, strict=True):
        echo = _sent_json(item) if i is None or form == "echo" else directory.identity_json(i)
        status = CUSTOMER_STATUS[customer_code] if customer_code != 2002 else _status(
            False, f"Invalid Request: {LINKS_KEY} is empty", 2002)
        entries = []
        for link, code in zip(item[LINKS_KEY] if codes else (), codes, strict=True):
            name = link.get("partnerProgramName") if type(link) is dict else None
            message = LINK_MESSAGES.get(code) or MESSAGES[code]
            entries.append({"partnerProgramName": name, "partnerLinkStatus": {
                "status": code == 200, "message": message, "code": code}})
        parts.append(f'{{"customer":{{{echo}"status":{status}}},'
                     f'"{LINKS_KEY}":{orjson.dumps(entries).decode()}}}')
    return ('{"linkCustomers":[' + ",".join(parts) + '],"warnings":[]}').encode()
