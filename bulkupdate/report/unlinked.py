"""``bulkupdate report RUN --unlinked``: the customers a run's update API refused
with 2004 (not linked to the program), as link input.

One JSONL line per customer, named as the run's input named it, with each
program it was refused for and an empty ``customerPartnerReference``: the
operator fills in ``partnerTierName`` (required) and the expiry, then links
them (docs/migrations.md) and runs the updates again. Until it is filled in,
a line is ``invalid`` for the link validator, naming the field to complete, so
nothing half-made is ever sent.

Memory grows with the customers refused with 2004 (hundreds a night), never
with the run: a customer refused on several lines is written once, at its first.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import orjson

from ..base.api import LINK_PROGRAMS_KEY
from ..errors import UsageError
from ..rundir import RESULTS
from ..rundir.check import check_result, parse_json
from ..rundir.manifest import api_of, read_manifest
from ..rundir.private import open_file

NOT_LINKED = 2004


def unlinked(results: Iterator[dict[str, Any]]) -> list[dict[str, Any]]:
    """Link items for the 2004s among ``results`` (``results.jsonl`` lines), in
    the order customers first appear. Pure."""
    items: dict[bytes, dict[str, Any]] = {}
    for result in results:
        names = [p.get("partnerProgramName") for p in result.get("programs") or ()
                 if p.get("code") == NOT_LINKED and not p.get("ok")]
        customer = result.get("customer")
        if not names or not isinstance(customer, dict):
            continue
        key = orjson.dumps(customer, option=orjson.OPT_SORT_KEYS)
        item = items.get(key)
        if item is None:
            item = items[key] = {"customer": customer, LINK_PROGRAMS_KEY: []}
            if result.get("ref"):
                item["ref"] = result["ref"]
        links = item[LINK_PROGRAMS_KEY]
        for name in names:
            if isinstance(name, str) and all(x["partnerProgramName"] != name for x in links):
                links.append({"partnerProgramName": name, "customerPartnerReference": {}})
    return list(items.values())


def _results(run_dir: Path) -> Iterator[dict[str, Any]]:
    path = run_dir / RESULTS
    if not path.exists():
        return
    with open_file(path) as fh:
        for number, raw in enumerate(fh, 1):
            if raw.endswith(b"\n") and raw.strip():   # a torn last line is not a result yet
                where = f"{path} line {number}"
                yield check_result(parse_json(raw, where), where, sys.maxsize)


def write_unlinked(run_dir: Path, out: TextIO) -> int:
    """Write the link input for ``run_dir``'s 2004s to ``out``; how many customers."""
    api = api_of(read_manifest(run_dir))   # a run directory, or an error saying why not
    if api != "update":
        # Only an update's 2004 means "link this customer first" (a delink's means done).
        raise UsageError(f"{run_dir} is a {api} run: --unlinked reads the 2004s of an update "
                         "run (bulkupdate run)")
    items = unlinked(_results(run_dir))
    for item in items:
        out.write(orjson.dumps(item).decode() + "\n")
    return len(items)
