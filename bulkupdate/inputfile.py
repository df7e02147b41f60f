"""Opening an input file as bytes: plain or gzip (told by its content, not its
name), with errors a user can act on. Shared by the JSONL and CSV readers."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import BinaryIO

from .errors import UsageError


def open_input(path: Path) -> BinaryIO:
    try:
        raw: BinaryIO = path.open("rb")
    except FileNotFoundError:
        raise UsageError(f"input file {path} does not exist") from None
    except IsADirectoryError:
        raise UsageError(f"input {path} is a directory, not a file") from None
    except PermissionError:
        raise UsageError(f"input file {path} is not readable") from None
    if raw.read(2) == b"\x1f\x8b":
        # gzip.open owns its file: closing it closes the file (a GzipFile around
        # ``raw`` would leave ``raw`` open).
        raw.close()
        return gzip.open(path, "rb")  # type: ignore[return-value]
    raw.seek(0)
    return raw


def is_csv(path: Path) -> bool:
    suffixes = [s.lower() for s in path.suffixes]
    return ".csv" in suffixes[-2:]
