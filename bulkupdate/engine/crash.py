"""An unexpected exception during a run is a bug or a broken machine, not a
reason to leave the run half-finished or to show a user a traceback.

The session still finishes (manifest closed, summary written, resumable) and
the traceback is kept in ``events.jsonl`` (PII masked, like every event). The
exception then goes on to the caller — a library host gets its own exception
back — carrying a note with the one line the CLI shows instead of a traceback.

A full disk is no bug: it becomes :class:`~bulkupdate.errors.DiskFull` (free
space, then resume), and nothing is written to the disk that just refused.
"""

from __future__ import annotations

import traceback
from pathlib import Path

import orjson

from ..base.logs import mask_text
from ..errors import BulkUpdateError, DiskFull, RunAborted
from ..rundir.files import is_disk_full, now_iso
from ..rundir.private import open_file

NOTE = "bulkupdate: "


def crashed(exc: BaseException, events: Path) -> RunAborted:
    """Record ``exc`` with its traceback in ``events`` (once) and note on it what
    the user needs to know; the abort the session's figures are closed with."""
    if isinstance(exc, BulkUpdateError):
        # Foreseen (the input became unreadable mid-run): its message says it all.
        return RunAborted(str(exc))
    if is_disk_full(exc):
        full = DiskFull(events.parent)
        full.__cause__ = exc
        return full
    message = crash_note(exc)
    if message is None:
        summary = mask_text(f"{type(exc).__name__}: {exc}")[:300]
        entry = {"event": "run.crashed", "level": "error", "timestamp": now_iso(),
                 "error": summary,
                 "traceback": mask_text("".join(traceback.format_exception(exc)))}
        try:
            with open_file(events, "ab") as fh:
                fh.write(orjson.dumps(entry) + b"\n")
            where = f"the traceback is in {events}"
        except Exception:  # the disk may be what failed: say so, don't hide the cause
            where = f"{events} could not be written either"
        message = (f"internal error ({summary}); {where}; the run is resumable with "
                   "'bulkupdate resume'")
        exc.add_note(NOTE + message)
    abort = RunAborted(message)
    abort.__cause__ = exc
    return abort


def crash_note(exc: BaseException) -> str | None:
    """The one line :func:`crashed` left on ``exc``, if it did."""
    for note in getattr(exc, "__notes__", ()):
        if isinstance(note, str) and note.startswith(NOTE):
            return note[len(NOTE):]
    return None


def reraise(abort: RunAborted | None) -> None:
    """After the session was closed: the caller's own exception, if it was one."""
    cause = abort.__cause__ if abort is not None else None
    if isinstance(cause, Exception) and crash_note(cause) is not None:
        raise cause
