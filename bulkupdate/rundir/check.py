"""What ``resume`` and ``report`` read back is checked before it is trusted.

A run directory is private (0700), but a user, a script or a broken disk can
still change it. A damaged or tampered file is refused with a message naming the
file and line, never half-believed: a ``"line": -1072`` would hide a record, a
``"line": 1e10`` would take gigabytes, a missing key would crash every resume.
Pure: the callers read, these functions judge.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from ..capillary.outcomes import Outcome
from ..errors import LedgerError

OUTCOMES = frozenset(o.value for o in Outcome)
# Results that carry API codes.
ANSWERED = frozenset(o.value for o in (Outcome.OK, Outcome.ALREADY, Outcome.PARTIAL,
                                       Outcome.REJECTED))
_NONE = type(None)

# manifest key -> (accepted types, required)
MANIFEST_KEYS: dict[str, tuple[tuple[type, ...], bool]] = {
    "run_id": ((str,), True),
    "input": ((str,), True),
    "input_fingerprint": ((dict,), True),
    "settings": ((dict,), True),
    "started_at": ((str,), True),
    "sessions": ((list,), True),
    "tool_version": ((str,), False),
    "stdin": ((bool,), False),
    "spooled": ((bool,), False),
    "ended_at": ((str, _NONE), False),
    "api": ((str,), False),   # absent: an update run (written before links)
}
APIS = ("update", "link", "delink")


class Damaged(LedgerError):
    pass


def _is_int(value: Any) -> bool:
    return type(value) is int


def parse_json(raw: bytes, where: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Damaged(f"{where}: not valid JSON; the run directory was changed by "
                      "something other than bulkupdate: refusing to trust it") from None


def check_manifest(data: Any, path: Path) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise Damaged(f"{path}: not a JSON object: refusing to trust it")
    for key, (types, required) in MANIFEST_KEYS.items():
        if key not in data:
            if required:
                raise Damaged(f"{path}: key {key!r} is missing")
            continue
        if type(data[key]) not in types:
            raise Damaged(f"{path}: key {key!r} has the wrong type "
                          f"({type(data[key]).__name__})")
    if data.get("api", "update") not in APIS:
        raise Damaged(f"{path}: api must be one of {', '.join(APIS)}")
    fp = data["input_fingerprint"]
    if not (_is_int(fp.get("size")) and isinstance(fp.get("sha256"), str)):
        raise Damaged(f"{path}: input_fingerprint needs an integer size and a sha256")
    if not all(isinstance(s, dict) for s in data["sessions"]):
        raise Damaged(f"{path}: sessions must be objects")
    return data


def _bad(where: str, what: str) -> Damaged:
    return Damaged(f"{where}: {what}; the ledger was changed by something other than "
                   "bulkupdate: refusing to resume from it")


def _check_line(value: Any, where: str, max_line: int) -> int:
    if not _is_int(value) or not 1 <= value <= max_line:
        raise _bad(where, f"line {value!r} is not a line of the input (1..{max_line})")
    return int(value)


def check_result(data: Any, where: str, max_line: int) -> dict[str, Any]:
    """A ``results.jsonl`` line, enough for the counts and the retry file."""
    if not isinstance(data, dict):
        raise _bad(where, "not a JSON object")
    _check_line(data.get("line"), where, max_line)
    outcome = data.get("outcome")
    if outcome not in OUTCOMES:
        raise _bad(where, f"unknown outcome {outcome!r}")
    if not isinstance(data.get("uncertain", False), bool):
        raise _bad(where, "'uncertain' is not true or false")
    if outcome in ANSWERED:
        programs = data.get("programs")
        if not isinstance(programs, list) or not all(
                isinstance(p, dict) and (p.get("code") is None or _is_int(p["code"]))
                for p in programs):
            raise _bad(where, "'programs' is not a list of results with integer codes")
        if data.get("code") is not None and not _is_int(data["code"]):
            raise _bad(where, "'code' is not an integer")
    return data


def check_sent(data: Any, where: str, max_line: int) -> dict[str, Any]:
    """A ``sent.jsonl`` line: a request (req, t, lines) or its early refusal."""
    if not isinstance(data, dict):
        raise _bad(where, "not a JSON object")
    if "answered" in data:
        if not isinstance(data["answered"], str):
            raise _bad(where, "'answered' is not a request id")
        return data
    lines = data.get("lines")
    if not isinstance(data.get("req"), str) or not isinstance(lines, list):
        raise _bad(where, "a request needs 'req' and 'lines'")
    for line in lines:
        _check_line(line, where, max_line)
    return data
