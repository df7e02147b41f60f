"""The run directory's file names, and the small careful reads and writes its
files share: atomic JSON, a torn last line cut off, non-blank lines read back."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from ..errors import LedgerError

MANIFEST = "manifest.json"
RESULTS = "results.jsonl"
SENT = "sent.jsonl"
RETRY = "retry.jsonl"
SUMMARY = "summary.json"
EVENTS = "events.jsonl"
FSYNC_EVERY = 1.0


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def default_run_dir(input_path: Path, root: Path = Path("runs")) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    stem = input_path.name.split(".")[0] or "input"
    return root / f"{stamp}-{stem}"


def ensure_fresh(run_dir: Path) -> None:
    """A new run never goes into a directory that holds one."""
    if (run_dir / MANIFEST).exists():
        raise LedgerError(f"{run_dir} already holds a run: use 'bulkupdate resume "
                          f"{run_dir}' to finish it, or choose another --run-dir")


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
    os.replace(tmp, path)


def repair_tail(path: Path) -> int:
    """Cut a torn last line; returns the bytes removed."""
    if not path.exists():
        return 0
    with path.open("rb+") as fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        fh.seek(max(0, size - 65536))
        tail = fh.read()
        if tail.endswith(b"\n"):
            return 0
        cut = tail.rfind(b"\n")
        keep = size - len(tail) + cut + 1 if cut >= 0 else 0
        if cut < 0 and size > len(tail):
            raise LedgerError(f"{path}: last line is longer than 64 kB and torn; "
                              "the file is damaged beyond automatic repair")
        fh.truncate(keep)
        return size - keep


def read_lines(path: Path) -> Iterator[bytes]:
    if not path.exists():
        return
    with path.open("rb") as fh:
        for raw in fh:
            if raw.strip():
                yield raw.rstrip(b"\n")
