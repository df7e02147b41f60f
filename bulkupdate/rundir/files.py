"""The run directory's file names, and the small careful reads and writes its
files share: atomic JSON, a torn last line cut off, non-blank lines read back,
lines appended whole or not at all — all private (0600) and never through a
symbolic link (:mod:`.private`)."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from ..base.safefiles import append_whole as append_whole  # where rundir's modules find it
from ..base.safefiles import open_append as open_append
from ..base.safefiles import open_file, write_atomic
from ..errors import LedgerError
from ..source.files import bounded_lines

MANIFEST = "manifest.json"
RESULTS = "results.jsonl"
SENT = "sent.jsonl"
RETRY = "retry.jsonl"
SUMMARY = "summary.json"
EVENTS = "events.jsonl"
LOCK = "lock"
FSYNC_EVERY = 1.0


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def default_run_dir(input_path: Path, root: Path = Path("runs")) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    stem = input_path.name.split(".")[0] or "input"
    return root / f"{stamp}-{stem}"


def write_json_atomic(path: Path, data: Any) -> None:
    write_atomic(path, orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")


def repair_tail(path: Path) -> int:
    """Cut a torn last line; returns the bytes removed."""
    if not path.exists():
        return 0
    with open_file(path, "r+b") as fh:
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


def read_lines(path: Path) -> Iterator[tuple[str, bytes]]:
    """(where, line) for every non-blank line; ``where`` names the file and line
    for an error. An overlong line comes empty (and is refused as not JSON)."""
    if not path.exists():
        return
    with open_file(path) as fh:
        for number, raw in enumerate(bounded_lines(fh), 1):
            if not raw or raw.strip():
                yield f"{path} line {number}", raw.rstrip(b"\n")


DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_disk_full(exc: BaseException) -> bool:
    """A write refused for want of space (or quota): a condition to wait out."""
    return isinstance(exc, OSError) and exc.errno in DISK_FULL


def free_bytes(path: Path) -> int | None:
    """Bytes an unprivileged writer may still use on ``path``'s file system."""
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize
