"""Reading the input: JSONL (plain, ``.gz``) or CSV, as physical lines with their
1-based line numbers. Streaming: a chunk of lines at a time, never the whole file.

Line numbers are physical lines of the (decompressed) file, so blank lines are
counted but not yielded: they are not records and get no result. Inputs are
always regular files (standard input is saved to the run directory first), so
reading on the event loop's thread never waits on a pipe.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .csvinput import iter_csv_records
from .errors import UsageError
from .inputfile import is_csv, open_input

__all__ = ["count_records", "fingerprint", "is_csv", "iter_lines", "open_input",
           "spool_stdin"]


def iter_lines(path: Path, *, skip: int = 0) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes without the newline) for every non-blank physical line."""
    if is_csv(path):
        yield from iter_csv_records(path)
        return
    with open_input(path) as fh:
        try:
            for number, line in enumerate(fh, 1):
                if number <= skip or not line.strip():
                    continue
                yield number, line.rstrip(b"\r\n")
        except (OSError, EOFError) as exc:  # a corrupt or truncated .gz
            raise UsageError(f"input {path}: cannot read past line {number}: {exc}") from None


def fingerprint(path: Path) -> dict[str, object]:
    """Size and SHA-256 of the file as stored: ``resume`` refuses if either changed."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
            size += len(block)
    return {"size": size, "sha256": digest.hexdigest()}


def count_records(path: Path) -> int | None:
    """Non-blank lines, for the progress bar; None when counting would cost a
    decompression pass."""
    if is_csv(path):
        return None
    with path.open("rb") as fh:
        if fh.read(2) == b"\x1f\x8b":
            return None
        fh.seek(0)
        return sum(1 for line in fh if line.strip())


def spool_stdin(target: Path, stream: BinaryIO | None = None) -> Path:
    """Save standard input into the run directory first: a run that can be
    interrupted must be resumable, and a pipe cannot be read twice."""
    src = stream or sys.stdin.buffer
    with target.open("wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
    return target
