"""Runs beside this one: the same input (by content) already finished in the same
``runs/`` directory is most often a file run twice by mistake — worth a warning
(never a refusal: re-sending a night on purpose is legitimate)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from .files import MANIFEST, SUMMARY
from .manifest import MAX_MANIFEST

# Inputs a run writes for the next one: running them is the point.
FOLLOW_UPS = frozenset({"retry.jsonl", "reapply.jsonl"})


def finished_with(root: Path, fingerprint: dict[str, Any], mine: Path) -> Path | None:
    """The latest run directory under ``root`` (not ``mine``) whose input had this
    ``fingerprint`` and whose every record has a result; None if none."""
    found: list[tuple[str, Path]] = []
    try:
        candidates = [p for p in root.iterdir() if p.is_dir() and p.resolve() != mine.resolve()]
    except OSError:
        return None
    for run_dir in candidates:
        manifest = _json(run_dir / MANIFEST)
        if not manifest or manifest.get("input_fingerprint") != fingerprint:
            continue
        summary = _json(run_dir / SUMMARY)
        if summary and summary.get("complete"):
            found.append((str(manifest.get("started_at") or ""), run_dir))
    return max(found)[1] if found else None


def _json(path: Path) -> dict[str, Any] | None:
    """A small JSON file of another run, or None: someone else's damage is not ours."""
    try:
        with path.open("rb") as fh:
            data = orjson.loads(fh.read(MAX_MANIFEST))
    except (OSError, orjson.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None
