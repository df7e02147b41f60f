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
from typing import Any, BinaryIO

import orjson

from ..errors import LedgerError
from ..source.lines import bounded_lines
from .private import open_fd, open_file, prepare, write_atomic

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


def ensure_fresh(run_dir: Path) -> None:
    """A new run goes only into a new or empty directory of ours (made private)."""
    prepare(run_dir, new=True)


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


def open_append(path: Path) -> BinaryIO:
    """An unbuffered append-only file: what :func:`append_whole` writes is in the
    kernel when it returns, and nothing half-written waits in a buffer."""
    fh: BinaryIO = os.fdopen(open_fd(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND), "ab",
                             buffering=0)
    return fh


def append_whole(fh: BinaryIO, data: bytes) -> None:
    """Append ``data`` (whole lines) all or nothing. A full disk may take part of
    it (a short write) and then refuse the rest: the part is cut off again, so
    the file never ends in a torn line that a later append would glue onto."""
    view = memoryview(data)
    done = 0
    try:
        while done < len(view):
            done += fh.write(view[done:]) or 0
    except OSError:
        if done:
            # One writer (the run's lock): the file grew by exactly ``done``.
            fh.truncate(os.fstat(fh.fileno()).st_size - done)
        raise


def free_bytes(path: Path) -> int | None:
    """Bytes an unprivileged writer may still use on ``path``'s file system."""
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize
