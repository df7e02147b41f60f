"""The plan's files in a run directory, written by the plan pass (:class:`PlanWriter`)
and read by the send pass (:class:`PlanReader`), a new session or a resume alike:

* ``plan.skip``: one bit per input line (bit ``n`` for line ``n``), set for the
  lines the plan decided not to send;
* ``plan.unchanged.jsonl``: those lines' results, in input order, copied into
  ``results.jsonl`` as the reader passes them, never validated a second time;
* ``plan.json``: the plan's figures (what ``bulkupdate plan`` says).

A run directory without them (no ``--state``) sends every line, as always.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from ..rundir.files import write_json_atomic
from ..rundir.private import open_file

SKIP = "plan.skip"
UNCHANGED = "plan.unchanged.jsonl"
PLAN = "plan.json"


class PlanWriter:
    def __init__(self, run_dir: Path) -> None:
        self.dir = run_dir
        self.bits = bytearray()
        self._out = open_file(run_dir / (UNCHANGED + ".tmp"), "wb")

    def skip(self, line: int, result: dict[str, Any]) -> None:
        byte = line >> 3
        if byte >= len(self.bits):
            self.bits.extend(bytes(byte + 1 - len(self.bits) + 4096))
        self.bits[byte] |= 1 << (line & 7)
        self._out.write(orjson.dumps(result) + b"\n")

    def finish(self) -> None:
        """Both files in place, durably: written last, so a plan cut short is no plan."""
        self._out.flush()
        os.fsync(self._out.fileno())
        self._out.close()
        with open_file(self.dir / (SKIP + ".tmp"), "wb") as fh:
            fh.write(self.bits)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(self.dir / (UNCHANGED + ".tmp"), self.dir / UNCHANGED)
        os.replace(self.dir / (SKIP + ".tmp"), self.dir / SKIP)

    def close(self) -> None:
        self._out.close()


def write_plan(run_dir: Path, figures: dict[str, Any]) -> None:
    write_json_atomic(run_dir / PLAN, figures)


class PlanReader:
    """The send pass's side: :meth:`skipped` says whether a line is not to be sent,
    and then :meth:`result` gives its result (the next one of the file: the lines
    come in input order)."""

    def __init__(self, run_dir: Path) -> None:
        self.bits = (run_dir / SKIP).read_bytes()
        self._results: Iterator[bytes] = _lines(run_dir / UNCHANGED)

    @classmethod
    def of(cls, run_dir: Path) -> PlanReader | None:
        return cls(run_dir) if (run_dir / SKIP).exists() else None

    @property
    def skipped_count(self) -> int:
        """Lines not to send, in all."""
        return int.from_bytes(self.bits, "little").bit_count()

    def skipped(self, line: int) -> bool:
        byte = line >> 3
        return byte < len(self.bits) and bool(self.bits[byte] & (1 << (line & 7)))

    def line_of(self, line: int) -> bytes:
        """The next ready-made result line, as written: it must be ``line``'s (the
        plan belongs to this input: never guess). Its key order starts with "line"."""
        raw = next(self._results)
        if not raw.startswith(b'{"line":%d,' % line):
            found = orjson.loads(raw).get("line") if raw.strip() else None
            raise ValueError(f"{UNCHANGED}: expected line {line}, found {found}")
        return raw


def _lines(path: Path) -> Iterator[bytes]:
    with open_file(path, "rb") as fh:
        yield from fh
