"""Whatever the caller has → the run's input file: a path is used where it is;
standard input and any iterable or async iterable of records are spooled into
the run directory (``input.jsonl``) as they are read.

Spooling keeps every run resumable (the pipeline and ``resume`` read a regular
file, fingerprinted in the manifest) and memory flat (one item at a time goes to
disk). Items become lines, one each, in order, so line *n* of ``input.jsonl`` is
the *n*-th item (when no item holds a line break of its own):

* a ``dict`` (any mapping) is written as JSON; values JSON cannot hold are
  written as strings, so the validator names the field instead of the run dying;
* ``bytes`` or ``str`` is a JSONL line, written as it is (a blank one is not a
  record and gets no result, as in a file);
* anything else is written as JSON too, and the validator says why it is not a
  record.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
import uuid
from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ..base.safefiles import open_fd
from ..errors import UsageError
from .lines import json_array, spool_stdin, starts_with_array

SPOOLED = "input.jsonl"
YIELD_EVERY = 1024    # items read from a plain iterable between two turns of the loop

Item = Mapping[str, Any] | bytes | str
Source = str | os.PathLike[str] | Iterable[Item] | AsyncIterable[Item]


@dataclass(frozen=True)
class Intake:
    """A source, checked: ``kind`` is ``file``, ``stdin`` or ``iterable``."""

    kind: str
    path: Path | None = None
    items: Any = None

    @property
    def stem(self) -> Path:
        """What the default run directory is named after."""
        return self.path if self.path is not None else Path(
            "stdin.jsonl" if self.kind == "stdin" else "records.jsonl")

    async def materialize(self, run_dir: Path) -> Path:
        """The input file, spooled into ``run_dir`` unless it is a path already."""
        if self.path is not None:
            return self.path
        target = run_dir / SPOOLED
        if self.kind == "stdin":
            path = await _in_daemon_thread(_spool_stdin, target)
            # A file is checked in its scan; what came on a pipe, once saved.
            if await asyncio.to_thread(starts_with_array, path):
                raise json_array("-")
            return path
        return await spool_items(self.items, target)


async def _in_daemon_thread(func: Callable[[Path], Path], arg: Path) -> Path:
    """``func(arg)`` off the loop, in a thread nothing waits for: a read of a
    pipe cannot be interrupted, and a cancelled run must not hang on it."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Path] = loop.create_future()

    def work() -> None:
        result: Path | None = None
        error: BaseException | None = None
        try:
            result = func(arg)
        except BaseException as exc:
            error = exc
        with contextlib.suppress(RuntimeError):   # the loop is gone: nobody waits
            loop.call_soon_threadsafe(_settle, done, result, error)

    threading.Thread(target=work, name="bulkupdate-stdin", daemon=True).start()
    return await done


def _spool_stdin(target: Path) -> Path:
    # The raw descriptor, not sys.stdin.buffer: a daemon thread still blocked in a
    # buffered read holds its lock, and the interpreter aborts at exit over it.
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):   # a host replaced sys.stdin
        return spool_stdin(target)
    with open(fd, "rb", buffering=0, closefd=False) as raw:
        return spool_stdin(target, raw)


def _settle(future: asyncio.Future[Path], result: Path | None,
            exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        assert result is not None
        future.set_result(result)


def check_source(source: Any) -> Intake:
    """Classify ``source`` without creating anything; a usage error if it is none
    of a path, ``"-"``, an iterable or an async iterable."""
    if isinstance(source, str | os.PathLike):
        if str(source) == "-":
            return Intake("stdin")
        path = Path(source)
        if not path.is_file():
            raise UsageError(f"input file {path} does not exist or is not a file")
        return Intake("file", path=path)
    if isinstance(source, bytes | bytearray | memoryview):
        raise UsageError("source is bytes: pass a path, '-', or an iterable of lines")
    if isinstance(source, Mapping):
        raise UsageError("source is one record: pass an iterable of records, e.g. [record]")
    if isinstance(source, AsyncIterable | Iterable):
        return Intake("iterable", items=source)
    raise UsageError(f"source is {type(source).__name__}: pass a path, '-', or an "
                     "iterable or async iterable of records (dict) or JSONL lines")


def to_line(item: Any) -> bytes:
    """One item → one JSONL line, without its newline."""
    if isinstance(item, bytes | bytearray | memoryview):
        return bytes(item).rstrip(b"\r\n")
    if isinstance(item, str):
        try:
            return item.rstrip("\r\n").encode("utf-8")
        except UnicodeEncodeError:   # lone surrogates: invalid UTF-8, reported as such
            return item.rstrip("\r\n").encode("utf-8", "surrogatepass")
    if isinstance(item, Mapping) and type(item) is not dict:
        item = dict(item)
    return orjson.dumps(item, default=str, option=orjson.OPT_NON_STR_KEYS)


async def spool_items(items: Iterable[Any] | AsyncIterable[Any], target: Path) -> Path:
    """Write every item as a line of ``target``: through a private temporary file,
    so a failed spool leaves nothing a later attempt could mistake for input."""
    tmp = target.with_name(f"{target.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        with os.fdopen(open_fd(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL), "wb") as out:
            if isinstance(items, AsyncIterable):
                async for item in items:
                    out.write(to_line(item) + b"\n")
            else:
                for count, item in enumerate(items, 1):
                    out.write(to_line(item) + b"\n")
                    if count % YIELD_EVERY == 0:
                        # A long list or a cursor must not starve other runs on this loop.
                        await asyncio.sleep(0)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
