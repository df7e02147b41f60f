"""``summary.json`` and ``retry.jsonl``: what a run adds up to, derived at the end
of each session from the results' counts, the manifest's sessions and the input
(byte for byte), so a crash between two writes can never make them disagree."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..source import iter_lines
from .files import RETRY, SUMMARY, write_json_atomic
from .private import open_file
from .resultsfile import ResultsFile

OUTCOMES = ("ok", "partial", "rejected", "retryable", "invalid")


def write_retry(run_dir: Path, input_path: Path, results: ResultsFile,
                input_records: int | None) -> int:
    """Write ``retry.jsonl``; returns the input's record count, reading the input
    only when something is retryable or the count is not known yet."""
    records = input_records
    tmp = run_dir / (RETRY + ".tmp")
    with open_file(tmp, "wb") as out:
        if results.retry.count or records is None:
            records = 0
            for line, raw in iter_lines(input_path):
                records += 1
                if line in results.retry:
                    out.write(raw + b"\n")
    os.replace(tmp, run_dir / RETRY)
    return records


def write_summary(run_dir: Path, manifest: dict[str, Any], results: ResultsFile,
                  records: int) -> dict[str, Any]:
    outcomes, codes = results.outcomes, results.codes
    sessions = manifest["sessions"]
    duration = sum(s.get("duration_s", 0.0) for s in sessions)
    finished = sum(s.get("results", 0) for s in sessions)
    summary = {
        "run_id": manifest["run_id"],
        "input": manifest["input"],
        "input_records": records,
        "results": sum(outcomes.values()),
        "complete": sum(outcomes.values()) == records,
        "outcomes": {k: outcomes.get(k, 0) for k in OUTCOMES},
        "codes": {str(k): codes[k] for k in sorted(codes, key=_numeric_first)},
        "uncertain": results.uncertain,
        "sessions": len(sessions),
        "sessions_killed": sum(1 for s in sessions if s.get("ended_at") is None),
        "requests": sum(s.get("requests", 0) for s in sessions),
        "throttled": sum(s.get("throttled", 0) for s in sessions),
        "learned_rate": next((s["learned_rate"] for s in reversed(sessions)
                              if s.get("learned_rate")), None),
        "transient_failures": sum(s.get("transient", 0) for s in sessions),
        "duration_s": round(duration, 3),
        "customers_per_s": round(finished / duration, 1) if duration else None,
        "started_at": manifest["started_at"],
        "ended_at": manifest.get("ended_at"),
    }
    write_json_atomic(run_dir / SUMMARY, summary)
    return summary


def _numeric_first(code: Any) -> tuple[int, str]:
    return len(str(code)), str(code)
