"""Opening an input file as bytes: plain or gzip (told by its content, not its
name), with errors a user can act on; and reading it in bounded lines. Shared by
the JSONL and CSV readers.

A line longer than :data:`MAX_LINE` is never held whole: it is skipped in
slices and stands as an empty :class:`~bulkupdate.source.validate.Unreadable`, which
validates ``invalid`` ("line too long").
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from pathlib import Path
from typing import IO, BinaryIO

from ..errors import cannot_open
from .validate import Unreadable, unreadable

MAX_LINE = 1 << 20          # bytes in one input line, newline excluded
BLOCK = 1 << 20
READ_BUFFER = 1 << 16
GZIP_MAGIC = b"\x1f\x8b"
BOM = b"\xef\xbb\xbf"       # a UTF-8 byte order mark: Excel's default
TOO_LONG = f"line too long (more than {MAX_LINE >> 20} MiB): not read"


def open_input(path: Path) -> BinaryIO:
    """The decompressed byte stream of ``path``; works on a pipe (no seeking)."""
    try:
        # A buffer of 64 KiB, not 8: a read() per 27 lines was a fifth of a readline.
        raw = io.BufferedReader(io.FileIO(path, "rb"), READ_BUFFER)
    except OSError as exc:
        raise cannot_open("input file", path, exc) from None
    if raw.peek(2)[:2] == GZIP_MAGIC:
        gz = gzip.GzipFile(fileobj=raw, mode="rb")
        # Closed with it, as gzip.open does (a GzipFile around ``raw`` alone would
        # leave ``raw`` open); not reopened by name, so a pipe works too.
        gz.myfileobj = raw  # type: ignore[assignment]
        return gz  # type: ignore[return-value]
    return raw


def is_csv(path: Path) -> bool:
    suffixes = [s.lower() for s in path.suffixes]
    return ".csv" in suffixes[-2:]


def bounded_lines(fh: IO[bytes]) -> Iterator[bytes]:
    """Physical lines (with their newline); a line over :data:`MAX_LINE` comes as
    an empty :class:`Unreadable` after being skipped in slices, never held whole."""
    readline = fh.readline
    while line := readline(MAX_LINE + 1):
        if len(line) > MAX_LINE and not (len(line) == MAX_LINE + 1 and line.endswith(b"\n")):
            while line and not line.endswith(b"\n"):
                line = readline(BLOCK)
            yield unreadable("line", TOO_LONG)
            continue
        yield line


__all__ = ["BLOCK", "BOM", "GZIP_MAGIC", "MAX_LINE", "TOO_LONG", "Unreadable", "bounded_lines",
           "is_csv", "open_input"]
