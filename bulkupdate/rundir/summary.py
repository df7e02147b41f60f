"""``summary.json`` and ``retry.jsonl``: what a run adds up to, derived at the end
of each session from the results' counts, the manifest's sessions and the input
(byte for byte), so a crash between two writes can never make them disagree.

A killed session (SIGKILL, power loss) has no figures in the manifest: its time
and requests are taken from ``sent.jsonl``, first to last request it journaled,
so that the run's duration and throughput are not overstated.

Every figure names what it counts (the same names in events, this file, the
report and the metrics): ``requests`` sent, ``throttled_answers`` (429s),
``transient_answers`` (answers that decided nothing: 429, 503, other 5xx,
timeouts, dropped connections, items answered "not now"; their records were
retried or given up as ``retryable``), ``results_per_s`` (final results per
second of the sessions' time). Older runs' keys (``throttled``,
``transient_failures``, ``customers_per_s``) are read by :func:`figure`.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from ..capillary.outcomes import Outcome
from ..errors import BulkUpdateError
from ..results import OLD_KEYS, Summary
from ..source.lines import iter_lines
from .files import RESULTS, RETRY, SENT, SUMMARY, write_json_atomic
from .manifest import api_of
from .private import open_file
from .readback import read_results
from .resultsfile import ResultsFile

OUTCOMES = tuple(o.value for o in Outcome)   # summary.json's order: the enum's
# Keys of a session as older versions wrote them (the summary's: results.OLD_KEYS).
OLD_SESSION_KEYS = {"throttled_answers": "throttled", "transient_answers": "transient"}


def figure(data: dict[str, Any], key: str, default: Any = None, *,
           old: dict[str, str] = OLD_KEYS) -> Any:
    """``data[key]``, or what an older version wrote under its old name."""
    if key in data:
        return data[key]
    return data.get(old.get(key, key), default)


def write_retry(run_dir: Path, input_path: Path, results: ResultsFile,
                input_records: int | None, *, api: str = "update") -> int:
    """Write ``retry.jsonl``, in the input format of the run's ``api`` (a CSV's rows
    as the JSONL items they became); returns the input's record count, reading
    the input only when something is retryable or the count is not known yet."""
    records = input_records
    tmp = run_dir / (RETRY + ".tmp")
    with open_file(tmp, "wb") as out:
        if results.retry.count or records is None:
            records = 0
            for line, raw in iter_lines(input_path, api=api):
                records += 1
                if line in results.retry:
                    out.write(raw + b"\n")
    os.replace(tmp, run_dir / RETRY)
    return records


def write_summary(run_dir: Path, manifest: dict[str, Any], results: ResultsFile,
                  records: int) -> Summary:
    summary = count_summary(run_dir, manifest, results, records)
    write_json_atomic(run_dir / SUMMARY, summary.to_dict())
    return summary


def recount(run_dir: Path, manifest: dict[str, Any], written: dict[str, Any]) -> Summary:
    """The summary as the run directory holds it now, written nowhere: what
    ``report`` shows when a session was killed after the last ``summary.json``
    (``written``, {} if none) — every line of ``results.jsonl`` counted, the killed
    session's requests and time from its journal. Never writes: a report reads."""
    results = ResultsFile(run_dir / RESULTS)
    for result in read_results(run_dir):
        results.tally(result)
    records = written.get("input_records")
    if records is None:
        try:
            records = sum(1 for _ in iter_lines(Path(manifest["input"]), api=api_of(manifest)))
        except (OSError, BulkUpdateError):
            records = None   # the input is gone: the ledger's counts still stand
    last = manifest["sessions"][-1] if manifest["sessions"] else {}
    return replace(count_summary(run_dir, manifest, results, records),
                   exit_code=last.get("exit_code"))


def is_stale(manifest: dict[str, Any], written: dict[str, Any]) -> bool:
    """Whether ``summary.json`` (``written``) predates a session of the manifest:
    one killed (SIGKILL, power loss) before it could write its own."""
    sessions = manifest.get("sessions") or []
    return bool(sessions) and written.get("sessions") != len(sessions)


def count_summary(run_dir: Path, manifest: dict[str, Any], results: ResultsFile,
                  records: int | None) -> Summary:
    outcomes, codes = results.outcomes, results.codes
    sessions = session_figures(run_dir, manifest["sessions"])
    duration = sum(s.get("duration_s") or 0.0 for s in sessions)
    reported = sum(outcomes.values())

    def total(key: str) -> int:
        return sum(figure(s, key, 0, old=OLD_SESSION_KEYS) or 0 for s in sessions)

    summary = Summary(
        run_id=manifest["run_id"],
        input=manifest["input"],
        input_records=records,
        results=reported,
        complete=reported == records,
        outcomes={k: outcomes.get(k, 0) for k in OUTCOMES},
        codes={str(k): codes[k] for k in sorted(codes, key=_numeric_first)},
        uncertain=results.uncertain,
        sessions=len(sessions),
        sessions_killed=sum(1 for s in sessions if s.get("ended_at") is None),
        requests=total("requests"),
        throttled_answers=total("throttled_answers"),
        learned_rate=next((s["learned_rate"] for s in reversed(sessions)
                           if s.get("learned_rate")), None),
        transient_answers=total("transient_answers"),
        duration_s=round(duration, 3),
        results_per_s=round(reported / duration, 1) if duration else None,
        started_at=manifest["started_at"],
        ended_at=manifest.get("ended_at"),
    )
    return summary


def session_figures(run_dir: Path, sessions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The manifest's sessions (copies), a killed one's time and requests filled
    in from ``sent.jsonl``."""
    sessions = [dict(s) for s in sessions]
    if any(_killed(s) for s in sessions):
        _from_journal(run_dir / SENT, sessions)
    return sessions


def _killed(session: dict[str, Any]) -> bool:
    return session.get("ended_at") is None and session.get("duration_s") is None


def _from_journal(sent: Path, sessions: list[dict[str, Any]]) -> None:
    """A killed session's ``duration_s`` (its first to its last journaled request)
    and ``requests``, from ``sent.jsonl``: one pass, one entry per session kept.
    Each journal session (the prefix of its request ids) belongs to a manifest
    session, in order: a session killed and resumed within the same second of
    the manifest's clock is told apart from the next by that order, not by time."""
    spans: dict[str, list[float]] = {}     # journal session → [first t, last t, requests]
    if sent.exists():
        with open_file(sent) as fh:
            for raw in fh:
                if b'"t"' not in raw:
                    continue
                try:
                    entry = orjson.loads(raw)
                    session, t = str(entry["req"]).rsplit("-", 1)[0], float(entry["t"])
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                    continue   # a torn last line: the kill landed mid-write
                span = spans.setdefault(session, [t, t, 0])
                span[0], span[1], span[2] = min(span[0], t), max(span[1], t), span[2] + 1
    killed = [_killed(s) for s in sessions]
    owner = 0
    for first, last, count in spans.values():
        # Journal sessions come in the manifest's order, one per session that sent
        # anything: skip a session that ended having sent nothing, or whose next one
        # surely began before this first request (started_at is to the second).
        while owner + 1 < len(sessions) and (
                (not killed[owner] and not sessions[owner].get("requests"))
                or (_epoch(sessions[owner + 1].get("started_at")) or 0.0) + 1 <= first):
            owner += 1
        if owner < len(sessions) and killed[owner]:
            sessions[owner]["duration_s"] = round(last - first, 3)
            sessions[owner]["requests"] = int(count)
        owner += 1


def _epoch(iso: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(iso)).timestamp()
    except ValueError:
        return None


def _numeric_first(code: Any) -> tuple[int, str]:
    return len(str(code)), str(code)
