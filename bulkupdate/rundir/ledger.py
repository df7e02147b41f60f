"""The run directory: what was sent, what became final, and what it adds up to.

=================  ==========================================================
``manifest.json``  run id, input path and fingerprint, settings (no secrets),
                   version, sessions (one per run/resume) with their figures
``results.jsonl``  one line per input record, appended as outcomes become final
``sent.jsonl``     one line per request, written *before* it is sent: after a
                   crash, lines sent but without a result may have been applied;
                   ``t`` is when the pacer let it go (the log ``--rate`` holds in)
``retry.jsonl``    the ``retryable`` records in input format, rebuilt at the end
``summary.json``   counts per outcome and per API code, requests, throughput
``events.jsonl``   the run's log (PII masked)
=================  ==========================================================

Crash safety: results are written with one ``write()`` per response, so a
SIGKILL loses nothing the kernel has; an fsync every second (``FSYNC_EVERY``, in
a worker thread, because a slow disk must not stall the senders) covers power loss.
A torn last line (a crash mid-write) is cut off when the run directory is
opened again, and that record is simply sent again.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from ..errors import LedgerError
from ..source import fingerprint, iter_lines
from ..version import __version__
from .files import (
    EVENTS,
    FSYNC_EVERY,
    MANIFEST,
    RESULTS,
    RETRY,
    SENT,
    SUMMARY,
    default_run_dir,
    ensure_fresh,
    now_iso,
    read_lines,
    repair_tail,
    write_json_atomic,
)
from .lineset import LineSet

__all__ = ["EVENTS", "FSYNC_EVERY", "MANIFEST", "RESULTS", "RETRY", "SENT", "SUMMARY", "Ledger",
           "LineSet", "default_run_dir", "ensure_fresh", "now_iso", "repair_tail",
           "write_json_atomic"]

class Ledger:
    def __init__(self, run_dir: Path, manifest: dict[str, Any]) -> None:
        self.dir = run_dir
        self.manifest = manifest
        self.done = LineSet()
        self.sent_before: dict[int, int] = {}   # unfinished line -> attempts already sent
        self.maybe_applied: set[int] = set()    # unfinished lines sent and never answered
        self._session = uuid.uuid4().hex[:8]
        self._requests = 0
        self.duplicates = 0
        self.outcomes: Counter[str] = Counter()
        self.codes: Counter[Any] = Counter()
        self.uncertain = 0
        self.retry = LineSet()                  # lines whose outcome is retryable
        self._results: BinaryIO | None = None
        self._sent: BinaryIO | None = None
        # One offset per session: send times stay exact monotonic differences,
        # readable as wall-clock seconds.
        self._wall_offset = time.time() - time.monotonic()

    @property
    def input_path(self) -> Path:
        return Path(self.manifest["input"])

    @classmethod
    def create(cls, run_dir: Path, input_path: Path, settings: dict[str, Any], *,
               from_stdin: bool = False, spooled: bool = False) -> Ledger:
        ensure_fresh(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        manifest = {
            "run_id": uuid.uuid4().hex,
            "tool_version": __version__,
            "input": str(input_path.resolve()),
            "stdin": from_stdin,
            "spooled": spooled or from_stdin,   # the input lives in the run directory
            "input_fingerprint": fingerprint(input_path),
            "settings": settings,
            "started_at": now_iso(),
            "ended_at": None,
            "sessions": [],
        }
        write_json_atomic(run_dir / MANIFEST, manifest)
        return cls(run_dir, manifest)

    @classmethod
    def reopen(cls, run_dir: Path) -> Ledger:
        try:
            manifest = orjson.loads((run_dir / MANIFEST).read_bytes())
        except FileNotFoundError:
            raise LedgerError(f"{run_dir} is not a run directory (no {MANIFEST})") from None
        except orjson.JSONDecodeError:
            raise LedgerError(f"{run_dir / MANIFEST} is damaged (not JSON)") from None
        ledger = cls(run_dir, manifest)
        path = ledger.input_path
        if not path.exists():
            raise LedgerError(f"the run's input {path} no longer exists")
        if fingerprint(path) != manifest["input_fingerprint"]:
            raise LedgerError(f"the run's input {path} changed since the run began "
                              "(size or SHA-256 differ): resuming would mix two inputs. "
                              "Start a new run instead")
        ledger._load()
        return ledger

    def _load(self) -> None:
        repair_tail(self.dir / RESULTS)
        repair_tail(self.dir / SENT)
        for raw in read_lines(self.dir / RESULTS):
            result = orjson.loads(raw)
            if self.done.add(result["line"]):
                self._count(result)
            else:
                self.duplicates += 1
        # Requests that carried an unfinished line, minus those whose answer said
        # nothing was applied: what is left may have been applied.
        unanswered: dict[str, list[int]] = {}
        for raw in read_lines(self.dir / SENT):
            entry = orjson.loads(raw)
            if "answered" in entry:
                unanswered.pop(entry["answered"], None)
                continue
            open_lines = [n for n in entry["lines"] if n not in self.done]
            for line in open_lines:
                self.sent_before[line] = self.sent_before.get(line, 0) + 1
            if open_lines:
                unanswered[entry["req"]] = open_lines
        self.maybe_applied = {n for lines in unanswered.values() for n in lines}

    def open(self) -> None:
        self._results = (self.dir / RESULTS).open("ab")
        self._sent = (self.dir / SENT).open("ab")

    def record_sent(self, lines: list[int], granted_at: float) -> str:
        """Journal a request before it leaves; returns its id. ``granted_at`` is
        the pacer's monotonic grant time."""
        assert self._sent is not None
        self._requests += 1
        req = f"{self._session}-{self._requests}"
        at = round(granted_at + self._wall_offset, 6)
        self._sent.write(orjson.dumps({"req": req, "t": at, "lines": lines}) + b"\n")
        self._sent.flush()
        return req

    def record_not_applied(self, req: str) -> None:
        """The server refused the request before processing it (429, 503, ...):
        after a crash, its records need no 'uncertain' flag on this account."""
        assert self._sent is not None
        self._sent.write(orjson.dumps({"answered": req}) + b"\n")
        self._sent.flush()

    def _count(self, result: dict[str, Any]) -> None:
        # The summary's figures, kept as results are written (or re-read on
        # resume), so finishing a run of millions costs no second pass.
        outcome = result["outcome"]
        self.outcomes[outcome] += 1
        if result.get("uncertain"):
            self.uncertain += 1
        if outcome == "retryable":
            self.retry.add(result["line"])
        elif outcome != "invalid":
            codes = self.codes
            if outcome == "rejected" and result.get("code") is not None:
                codes[result["code"]] += 1
            for program in result["programs"]:
                if program["code"] is not None:
                    codes[program["code"]] += 1

    def write_results(self, results: list[dict[str, Any]],
                      written: list[dict[str, Any]] | None = None) -> int:
        """Appends results whose line has none yet; returns how many were written
        (and appends them to ``written`` when given, in ledger order)."""
        assert self._results is not None
        out = []
        for result in results:
            if self.done.add(result["line"]):
                self._count(result)
                out.append(orjson.dumps(result))
                if written is not None:
                    written.append(result)
            else:
                self.duplicates += 1   # never reported twice: the first answer stands
        if out:
            out.append(b"")
            self._results.write(b"\n".join(out))
            self._results.flush()
        return len(out) - 1 if out else 0

    def fsync(self) -> None:
        """Push what was written to the disk. Safe from another thread: every
        write is already flushed to the kernel, so this only waits on the disk."""
        for fh in (self._results, self._sent):
            # A close on the loop thread may win the race with a late fsync here;
            # close() syncs itself, so that fsync has nothing left to do.
            with contextlib.suppress(OSError, ValueError):
                if fh is not None and not fh.closed:
                    os.fsync(fh.fileno())

    def sync(self) -> None:
        for fh in (self._results, self._sent):
            if fh is not None:
                fh.flush()
        self.fsync()

    def close(self) -> None:
        self.sync()
        for fh in (self._results, self._sent):
            if fh is not None:
                fh.close()
        self._results = self._sent = None

    def begin_session(self, started_at: str) -> dict[str, Any]:
        """Recorded at the start, so a session killed with SIGKILL still shows, with
        ``ended_at: null``."""
        session: dict[str, Any] = {"started_at": started_at, "ended_at": None,
                                   "exit_code": None}
        self.manifest["sessions"].append(session)
        write_json_atomic(self.dir / MANIFEST, self.manifest)
        return session

    def end_session(self, session: dict[str, Any], figures: dict[str, Any]) -> None:
        session.update(figures)
        self.manifest["ended_at"] = session.get("ended_at")
        write_json_atomic(self.dir / MANIFEST, self.manifest)

    def save(self, summary: dict[str, Any] | None = None) -> None:
        write_json_atomic(self.dir / MANIFEST, self.manifest)
        if summary is not None:
            write_json_atomic(self.dir / SUMMARY, summary)

    def finalize(self, input_records: int | None = None) -> dict[str, Any]:
        """Write ``retry.jsonl`` and ``summary.json``. ``input_records`` is the
        count of non-blank input lines when the caller read them all; otherwise
        (and for the retry file, when anything is retryable) the input is read."""
        outcomes, codes, retry = self.outcomes, self.codes, self.retry
        records = input_records
        tmp = self.dir / (RETRY + ".tmp")
        with tmp.open("wb") as out:
            if retry.count or records is None:
                records = 0
                for line, raw in iter_lines(self.input_path):
                    records += 1
                    if line in retry:
                        out.write(raw + b"\n")
        os.replace(tmp, self.dir / RETRY)
        sessions = self.manifest["sessions"]
        duration = sum(s.get("duration_s", 0.0) for s in sessions)
        requests = sum(s.get("requests", 0) for s in sessions)
        finished = sum(s.get("results", 0) for s in sessions)
        summary = {
            "run_id": self.manifest["run_id"],
            "input": self.manifest["input"],
            "input_records": records,
            "results": sum(outcomes.values()),
            "complete": sum(outcomes.values()) == records,
            "outcomes": {k: outcomes.get(k, 0) for k in
                         ("ok", "partial", "rejected", "retryable", "invalid")},
            "codes": {str(k): codes[k] for k in sorted(codes, key=_numeric_first)},
            "uncertain": self.uncertain,
            "sessions": len(sessions),
            "sessions_killed": sum(1 for s in sessions if s.get("ended_at") is None),
            "requests": requests,
            "throttled": sum(s.get("throttled", 0) for s in sessions),
            "transient_failures": sum(s.get("transient", 0) for s in sessions),
            "duration_s": round(duration, 3),
            "customers_per_s": round(finished / duration, 1) if duration else None,
            "started_at": self.manifest["started_at"],
            "ended_at": self.manifest.get("ended_at"),
        }
        write_json_atomic(self.dir / SUMMARY, summary)
        return summary


def _numeric_first(code: Any) -> tuple[int, str]:
    return len(str(code)), str(code)
