"""Reading the input: JSONL (plain, ``.gz``) or CSV, as physical lines with their
1-based line numbers. Streaming: a chunk of lines at a time, never the whole file.

Line numbers are physical lines of the (decompressed) file, so blank lines are
counted but not yielded: they are not records and get no result. Inputs are
always regular files (standard input is saved to the run directory first), so
reading on the event loop's thread never waits on a pipe.

Damage is found before anything is sent where that is cheap: :func:`scan_input`
checks a ``.gz`` end to end (and a CSV header) in the same pass that takes the
fingerprint, and refuses a file that is one JSON array. Lines are bounded
(:func:`~bulkupdate.source.files.bounded_lines`).
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import zlib
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import UsageError, cannot_open
from .csvfile import check_csv_header, iter_csv_records
from .files import BLOCK, BOM, GZIP_MAGIC, Unreadable, bounded_lines, is_csv, open_input

__all__ = ["bounded_lines", "count_records", "fingerprint", "is_csv", "iter_lines",
           "json_array", "open_input", "scan_input", "spool_stdin", "starts_with_array"]


def iter_lines(path: Path, *, skip: int = 0, api: str = "update",
               ignore: Collection[str] = ()) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes without the newline) for every non-blank physical line;
    a CSV's rows become the items of ``api`` (``"update"`` or ``"link"``), its
    ``ignore`` columns (``--ignore-column``) left unread."""
    if is_csv(path):
        yield from iter_csv_records(path, api, ignore)
        return
    number = 0
    with open_input(path) as fh:
        try:
            for number, line in enumerate(bounded_lines(fh), 1):
                if number <= skip:
                    continue
                if type(line) is Unreadable:
                    yield number, line
                    continue
                if number == 1 and line.startswith(BOM):
                    line = line[len(BOM):]
                if line and not line.isspace():   # not blank (as strip() says, no copy)
                    yield number, line.rstrip(b"\r\n")
        except (OSError, EOFError, zlib.error) as exc:  # a corrupt or truncated .gz
            raise UsageError(f"input {path}: cannot read past line {number}: {exc}") from None


def _inflate(blocks: Iterator[bytes], path: Path) -> Iterator[bytes]:
    """Decompress gzip members one bounded slice at a time (a gzip bomb costs
    time, not memory), with every CRC and length checked by zlib."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        for data in blocks:
            while data:
                if d.eof:
                    if not data.strip(b"\x00"):
                        break   # zero padding after the last member, which gzip allows
                    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                out = d.decompress(data, BLOCK)
                if out:
                    yield out
                data = d.unused_data if d.eof else d.unconsumed_tail
        if not d.eof:
            yield d.flush()
            if not d.eof:
                raise zlib.error("the file ends in the middle of the data (truncated)")
    except zlib.error as exc:
        raise UsageError(f"input {path} is a damaged gzip file ({exc}); "
                         "nothing was sent") from None


def scan_input(path: Path, api: str = "update",
               ignore: Collection[str] = ()) -> tuple[dict[str, Any], int]:
    """One pass over the file as stored: its fingerprint (size and SHA-256,
    which ``resume`` compares) and its number of physical lines. A ``.gz`` is
    decompressed on the way and a CSV's header read, so a damaged input is
    refused before anything is created or sent."""
    digest = hashlib.sha256()
    size = newlines = 0
    last = b"\n"
    first = b""     # the first byte that is not blank: "[" is a JSON array
    try:
        with path.open("rb") as fh:
            gz = fh.peek(2)[:2] == GZIP_MAGIC

            def blocks() -> Iterator[bytes]:
                nonlocal size
                while block := fh.read(BLOCK):
                    digest.update(block)
                    size += len(block)
                    yield block

            for data in (_inflate(blocks(), path) if gz else blocks()):
                if data:
                    if not first:
                        first = data.removeprefix(BOM if not newlines else b"").lstrip()[:1]
                    newlines += data.count(b"\n")
                    last = data[-1:]
    except OSError as exc:
        raise cannot_open("input file", path, exc) from None
    if is_csv(path):
        check_csv_header(path, api, ignore)
    elif first == b"[":
        raise json_array(str(path))
    return {"size": size, "sha256": digest.hexdigest()}, newlines + (last != b"\n")


def json_array(name: str) -> UsageError:
    """The error for an input that is one JSON array (an export tool's default):
    refused whole, rather than every line of it reported ``invalid``. ``name``
    is the path as the user gave it, or ``-`` for standard input."""
    if name == "-":
        return UsageError("standard input is one JSON array; bulkupdate reads one object "
                          "per line (pipe it through jq -c '.[]')")
    out = name[:-5] if name.endswith(".json") else name
    return UsageError(f"{name} is one JSON array; bulkupdate reads one object per line "
                      f"(jq -c '.[]' {name} > {out}.jsonl)")


def starts_with_array(path: Path) -> bool:
    """Whether the first character that is not blank is ``[``: read a block at a
    time, so a file of blank lines costs no memory. A damaged ``.gz`` says no:
    the scan that follows names the damage."""
    try:
        with open_input(path) as fh:
            head = fh.read(BLOCK).removeprefix(BOM)
            while head and not head.strip():
                head = fh.read(BLOCK)
    except (OSError, EOFError, zlib.error):
        return False
    return head.lstrip()[:1] == b"["


def fingerprint(path: Path) -> dict[str, Any]:
    """Size and SHA-256 of the file as stored: ``resume`` refuses if either changed."""
    return scan_input(path)[0]


def count_records(path: Path) -> int | None:
    """Non-blank lines, for the progress bar; None when counting would cost a
    decompression pass."""
    if is_csv(path):
        return None
    with path.open("rb") as fh:
        if fh.peek(2)[:2] == GZIP_MAGIC:
            return None
        # Whole blocks split in C: a pass over the input before the run costs a
        # small fraction of the run, not a tenth of it (readline per line did).
        count, tail = 0, b""
        while block := fh.read(BLOCK):
            lines = (tail + block).split(b"\n")
            tail = lines.pop()
            count += sum(1 for line in lines if line.strip())
            if len(tail) > BLOCK:   # a line longer than a block: only whether it is blank counts
                tail = b"x" if tail.strip() else b""
        return count + (1 if tail.strip() else 0)


def spool_stdin(target: Path, stream: BinaryIO | None = None) -> Path:
    """Save standard input into the run directory first: a run that can be
    interrupted must be resumable, and a pipe cannot be read twice."""
    from ..base.safefiles import open_file

    src = stream or sys.stdin.buffer
    with open_file(target, "wb") as out:
        shutil.copyfileobj(src, out, BLOCK)
    return target
