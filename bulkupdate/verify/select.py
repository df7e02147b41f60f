"""Which records to read back, and which later input lines supersede them.

Every record whose result is ``uncertain`` (whatever its outcome), plus, with
``sample``, that many chosen at random among those reported ``ok``: an audit of
the night. One pass over ``results.jsonl`` picks the lines; one pass over the
input fetches them and, for each (customer, program) they update, the last
later line that updates it too. Memory holds the chosen records only.

A customer is recognised across lines by the identifier it was sent with,
compared the way the API reads it (mobile digits, email in any case): lines
naming one customer by two different identifiers are not seen as the same.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..capillary.matching import digits
from ..capillary.read import read_identifier
from ..rundir import RESULTS
from ..rundir.files import read_lines
from ..source.lines import iter_lines
from .verdict import JUDGING


@dataclass
class Chosen:
    line: int
    raw: bytes
    record: dict[str, Any]
    why: str                               # "uncertain" or "sample"
    superseded_by: int | None = None
    keys: list[tuple[str, str, str]] = field(default_factory=list)


def read_key(customer: Any) -> tuple[str, str] | None:
    ident = read_identifier(customer)
    if ident is None:
        return None
    name, value = ident
    if name == "mobile":
        value = digits(value)
    elif name == "email":
        value = value.lower()
    return name, value


def record_keys(record: Any, programs_key: str) -> list[tuple[str, str, str]]:
    """(identifier name, value, program) for every program the record names
    (under ``programs_key``: the run's API's)."""
    key = read_key(record.get("customer")) if type(record) is dict else None
    updates = record.get(programs_key) if type(record) is dict else None
    if key is None or type(updates) is not list:
        return []
    return [(key[0], key[1], u["partnerProgramName"]) for u in updates
            if type(u) is dict and type(u.get("partnerProgramName")) is str]


def pick_lines(run_dir: Path, sample: int, rng: random.Random,
               unchanged: int = 0) -> dict[int, str]:
    """line → why, from the ledger's results (a reservoir sample of the ``ok``, and
    with a state store one of ``unchanged`` records: why ``"unchanged"``)."""
    chosen: dict[int, str] = {}
    pools: dict[str, tuple[int, list[int], list[int]]] = {
        "ok": (sample, [], [0]), "unchanged": (unchanged, [], [0])}
    for _, raw in read_lines(run_dir / RESULTS):
        result = orjson.loads(raw)
        line = result["line"]
        if result.get("uncertain"):
            chosen[line] = "uncertain"
        elif result.get("outcome") in pools:
            size, pool, seen = pools[result["outcome"]]
            if size > 0:
                seen[0] += 1
                if len(pool) < size:
                    pool.append(line)
                else:
                    k = rng.randrange(seen[0])
                    if k < size:
                        pool[k] = line
    for line in pools["ok"][1]:
        chosen.setdefault(line, "sample")
    for line in pools["unchanged"][1]:
        chosen.setdefault(line, "unchanged")
    return chosen


def load_chosen(input_path: Path, lines: dict[int, str], api: str) -> list[Chosen]:
    """The chosen records from the input of a run of ``api``, each marked with the
    last later line that updates one of its (customer, program) pairs."""
    programs_key = JUDGING[api].programs_key
    chosen: list[Chosen] = []
    watching: dict[tuple[str, str, str], list[Chosen]] = {}
    for number, raw in iter_lines(input_path, api=api):   # a CSV's rows as the API's items
        if type(raw) is not bytes:
            continue
        wanted = number in lines
        if not wanted and not watching:
            continue
        try:
            record = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        keys = record_keys(record, programs_key)
        for key in keys:
            for earlier in watching.get(key, ()):
                earlier.superseded_by = number
        if wanted:
            item = Chosen(number, bytes(raw), record, lines[number], keys=keys)
            chosen.append(item)
            for key in keys:
                watching.setdefault(key, []).append(item)
    return chosen
