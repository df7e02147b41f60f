"""The copy a run reads when its input needs one: decoded from another encoding
(``--encoding``), without columns the user named (``--ignore-column``). Written
into the run directory once, line for line, so ``resume``, the retry file, the
error file and ``verify`` read it like any input and need no flag."""

from __future__ import annotations

import codecs
import io
from collections.abc import Collection
from pathlib import Path

from ..base.safefiles import open_file
from ..errors import UsageError
from .csvfile import write_without
from .files import is_csv, open_input

CHUNK = 1 << 20      # characters per read: a copy never holds a whole long line


def check_encoding(name: str) -> str:
    """``name`` if Python knows the encoding (``WINDOWS-1252``, ``latin-1``,
    ``utf-16``), else a usage error."""
    try:
        codecs.lookup(name)
    except LookupError:
        raise UsageError(f"--encoding {name}: not an encoding this Python knows "
                         "(e.g. WINDOWS-1252, ISO-8859-1, UTF-16)") from None
    return name


def transcode(path: Path, target: Path, encoding: str) -> Path:
    """A UTF-8 copy of ``path`` (a ``.gz`` decompressed), read as ``encoding``:
    physical lines kept; a byte the encoding has no character for is kept as it
    was, so its line stays one ``invalid`` line naming it."""
    with open_input(path) as raw, open_file(target, "wb") as out:
        text = io.TextIOWrapper(raw, encoding=encoding, errors="surrogateescape", newline="")
        first = True
        while chunk := text.read(CHUNK):
            if first:
                chunk, first = chunk.removeprefix("\ufeff"), False
            out.write(chunk.encode("utf-8", "surrogateescape"))
    return target


def prepare_input(path: Path, run_dir: Path, *, encoding: str | None = None,
            ignore: Collection[str] = ()) -> Path:
    """The input the run reads: ``path`` itself, or its copy in ``run_dir``."""
    csv = is_csv(path)
    if encoding:
        path = transcode(path, run_dir / ("input-utf8.csv" if csv else "input-utf8.jsonl"),
                         encoding)
    if ignore:
        path = write_without(path, run_dir / "input.csv", ignore)
    return path
