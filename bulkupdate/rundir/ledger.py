"""The ledger: the one object the pipeline and runner use for a run directory,
composed of its files' modules (manifest, journal, results, summary).

Crash safety: results are written with one ``write()`` per response, so a
SIGKILL loses nothing the kernel has; an fsync every second (``FSYNC_EVERY``, in
a worker thread, because a slow disk must not stall the senders) covers power loss.
A torn last line (a crash mid-write) is cut off when the run directory is
opened again, and that record is simply sent again.

A full disk (ENOSPC, EDQUOT) is a condition, not a crash: a line the disk
refuses is cut back to whole lines (:func:`~.files.append_whole`) and kept in
memory with every line after it (the backlog), in order, until
:meth:`Ledger.flush_backlog` gets them all written; ``on_full`` tells the
pipeline, which stops sending. A request is never journaled into the backlog:
:meth:`Ledger.record_sent` answers None and the request must not leave.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ..source.lines import scan_input
from . import manifest as manifests
from .errorfile import write_errors
from .files import (
    MANIFEST,
    RESULTS,
    SENT,
    SUMMARY,
    append_whole,
    is_disk_full,
    write_json_atomic,
)
from .journal import Journal
from .lineset import LineSet
from .lock import RunLock
from .private import ensure_fresh, prepare
from .resultsfile import ResultsFile
from .summary import write_retry, write_summary

if TYPE_CHECKING:
    from ..capillary.result import RecordResult
    from ..results import Summary


class Ledger:
    def __init__(self, run_dir: Path, manifest: dict[str, Any], lock: RunLock | None = None,
                 input_lines: int = sys.maxsize) -> None:
        self.dir = run_dir
        self.manifest = manifest
        self._lock = lock                       # this process owns the directory
        self.input_lines = input_lines          # physical lines: valid line numbers
        self.results = ResultsFile(run_dir / RESULTS)
        self.journal = Journal(run_dir / SENT)
        self.sent_before: dict[int, int] = {}   # unfinished line -> attempts already sent
        self.maybe_applied: set[int] = set()    # unfinished lines sent and never answered
        # Lines a full disk refused, and all lines after them, in order.
        self.backlog: deque[tuple[ResultsFile | Journal, bytes]] = deque()
        self.on_full: Callable[[OSError], None] | None = None

    @property
    def input_path(self) -> Path:
        return Path(self.manifest["input"])

    @property
    def api(self) -> str:
        """Which API the run serves: ``update`` (also a manifest from before links), ``link``."""
        return manifests.api_of(self.manifest)

    # What has a result already, and what was reported twice: the results file's.
    @property
    def done(self) -> LineSet:
        return self.results.done

    @property
    def duplicates(self) -> int:
        return self.results.duplicates

    @classmethod
    def create(cls, run_dir: Path, input_path: Path, settings: dict[str, Any], *,
               from_stdin: bool = False, spooled: bool = False, lock: RunLock | None = None,
               scanned: tuple[dict[str, Any], int] | None = None,
               api: str = "update", run_id: str | None = None) -> Ledger:
        """A new run in ``run_dir``, owned by this process until :meth:`release`.
        ``lock``: the caller already made the directory ready and owns it;
        ``scanned``: the input's :func:`~bulkupdate.source.lines.scan_input`, if done;
        ``api``: the endpoint's name (``update``, ``link``), recorded in the manifest."""
        if lock is None:
            ensure_fresh(run_dir)
            lock = RunLock.acquire(run_dir)
        try:
            fingerprint, lines = scanned or scan_input(input_path, api)
            manifest = manifests.new_manifest(input_path, settings, from_stdin=from_stdin,
                                              spooled=spooled, fingerprint=fingerprint,
                                              api=api, run_id=run_id)
            write_json_atomic(run_dir / MANIFEST, manifest)
        except BaseException:
            lock.release()
            raise
        return cls(run_dir, manifest, lock, lines)

    @classmethod
    def reopen(cls, run_dir: Path) -> Ledger:
        """An existing run, owned by this process until :meth:`release`; what it
        reads back is checked line by line before it is trusted."""
        prepare(run_dir, new=False)
        lock = RunLock.acquire(run_dir)
        try:
            ledger = cls(run_dir, manifests.read_manifest(run_dir), lock)
            ledger.input_lines = manifests.check_input(ledger.manifest)
            ledger._load()
        except BaseException:
            lock.release()
            raise
        return ledger

    def release(self) -> None:
        """Give up the ownership of the run directory: the session is over."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _load(self) -> None:
        self.results.load(self.input_lines)
        self.sent_before, self.maybe_applied = self.journal.unfinished(self.done,
                                                                       self.input_lines)

    def open(self) -> None:
        self.results.open()
        self.journal.open()

    def record_sent(self, lines: list[int], granted_at: float) -> str | None:
        """The request's id, journaled; None when the disk is full: then the
        request must not leave (nothing would say it may have been applied)."""
        req, line = self.journal.sent_line(lines, granted_at)
        return req if self._append(self.journal, line, keep=False) else None

    def record_not_applied(self, req: str) -> None:
        self._append(self.journal, self.journal.not_applied_line(req))

    def write_results(self, results: list[RecordResult],
                      written: list[RecordResult] | None = None) -> int:
        """Results are reported once written, or kept in the backlog of a full disk."""
        count, data = self.results.encode(results, written)
        if data:
            self._append(self.results, data)
        return count

    def copy_results(self, lines: list[tuple[int, bytes]]) -> int:
        """``unchanged`` result lines the plan wrote ready-made, appended as they are."""
        count, data = self.results.encode_copied(lines)
        if data:
            self._append(self.results, data)
        return count

    def _append(self, part: ResultsFile | Journal, data: bytes, *, keep: bool = True) -> bool:
        """True when ``data`` is in the kernel; else (disk full) kept in the backlog
        when ``keep``, dropped otherwise."""
        if not self.backlog:
            try:
                append_whole(_opened(part.file), data)
                return True
            except OSError as exc:
                if not is_disk_full(exc):
                    raise
                if self.on_full is not None:
                    self.on_full(exc)
        if keep:
            self.backlog.append((part, data))
        return False

    def flush_backlog(self) -> bool:
        """Write what a full disk refused, in order; True when all is written."""
        while self.backlog:
            part, data = self.backlog[0]
            try:
                append_whole(_opened(part.file), data)
            except OSError as exc:
                if not is_disk_full(exc):
                    raise
                return False
            self.backlog.popleft()
        return True

    def fsync(self) -> None:
        """Push what was written to the disk. Safe from another thread: every
        write is already flushed to the kernel, so this only waits on the disk."""
        for fh in (self.results.file, self.journal.file):
            # A close on the loop thread may win the race with a late fsync here;
            # close() syncs itself, so that fsync has nothing left to do.
            with contextlib.suppress(OSError, ValueError):
                if fh is not None and not fh.closed:
                    os.fsync(fh.fileno())

    def sync(self) -> None:
        for fh in (self.results.file, self.journal.file):
            if fh is not None:
                fh.flush()
        self.fsync()

    def close(self) -> None:
        self.sync()
        for fh in (self.results.file, self.journal.file):
            if fh is not None:
                fh.close()
        self.results.file = self.journal.file = None

    def begin_session(self, started_at: str, **extra: Any) -> dict[str, Any]:
        return manifests.begin_session(self.dir, self.manifest, started_at, **extra)

    def end_session(self, session: dict[str, Any], figures: dict[str, Any]) -> None:
        manifests.end_session(self.dir, self.manifest, session, figures)

    def save(self, summary: Summary | None = None) -> None:
        write_json_atomic(self.dir / MANIFEST, self.manifest)
        if summary is not None:
            write_json_atomic(self.dir / SUMMARY, summary.to_dict())

    def finalize(self, input_records: int | None = None) -> Summary:
        """Write ``retry.jsonl`` and ``summary.json``. ``input_records`` is the
        count of non-blank input lines when the caller read them all; otherwise
        (and for the retry file, when anything is retryable) the input is read."""
        records = write_retry(self.dir, self.input_path, self.results, input_records,
                              api=self.api)
        write_errors(self.dir, self.input_path, self.results.to_fix, self.api)
        return write_summary(self.dir, self.manifest, self.results, records)


def _opened(fh: BinaryIO | None) -> BinaryIO:
    assert fh is not None, "Ledger.open() first"
    return fh
