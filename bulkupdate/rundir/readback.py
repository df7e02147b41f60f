"""Reading a run back, from the run directory alone: its manifest, its summary
and its results, each checked before it is trusted. What every report format,
``resume`` and the library use; it never takes the run's lock.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..base.safefiles import open_file
from ..errors import LedgerError
from .check import check_result, parse_json
from .files import RESULTS, SUMMARY
from .lock import holder
from .manifest import MAX_MANIFEST, read_manifest


def load(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The manifest and the summary, both checked. The summary is {} while a run
    is live (a resumed run's old summary no longer tells the truth) or before
    the end. Never takes the run's lock."""
    manifest = read_manifest(run_dir)
    if holder(run_dir) is not None:
        return manifest, {}
    return manifest, read_summary(run_dir)


def read_summary(run_dir: Path) -> dict[str, Any]:
    """``summary.json``, checked; {} before a session has ended. Whoever calls it
    knows the run is not live (or owns it)."""
    summary_path = run_dir / SUMMARY
    if not summary_path.exists():
        return {}
    with open_file(summary_path) as fh:
        summary = parse_json(fh.read(MAX_MANIFEST), str(summary_path))
    if not isinstance(summary, dict) or not isinstance(summary.get("outcomes"), dict):
        raise LedgerError(f"{summary_path} is damaged: not a summary")
    return summary


def read_results(run_dir: Path) -> Iterator[dict[str, Any]]:
    """Every complete line of ``results.jsonl``, checked (a torn last line is
    left out: the kill landed mid-write)."""
    path = run_dir / RESULTS
    if not path.exists():
        return
    with open_file(path) as fh:
        for number, raw in enumerate(fh, 1):
            if raw.endswith(b"\n") and raw.strip():
                where = f"{path} line {number}"
                yield check_result(parse_json(raw, where), where, sys.maxsize)
