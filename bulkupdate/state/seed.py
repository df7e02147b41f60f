"""``bulkupdate state import RUN_DIR…``: seed the store from finished runs'
results, so the first night with a store need not be a full send.

Each run is registered (``imported``), its input read back line by line (the
intents and identifiers of what each line sent), and its ``results.jsonl``
replayed like a run's own: only what the ledger confirms is confirmed. Runs go
oldest first; an import never overwrites a key that a run with the store wrote
(the store knows better), only keys no run wrote or earlier imports did."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from ..errors import BulkUpdateError
from ..rundir.files import RESULTS
from ..rundir.lock import describe_holder, holder
from ..rundir.manifest import api_of, read_manifest
from ..source.lines import iter_lines
from .db import Db
from .errors import StateError
from .intent import intents_of, keys_of, to_micros
from .marks import Entry, mark_pending
from .replay import apply_results
from .rows import Row

BATCH = 2000


def import_runs(db: Db, run_dirs: Sequence[Path], now: int) -> int:
    """Results applied, over all the runs; a run the store already knows is skipped."""
    runs = sorted(((_manifest(d), d) for d in run_dirs), key=lambda m: m[0]["started_at"])
    total = 0
    for manifest, run_dir in runs:
        if db.one("SELECT 1 FROM runs WHERE run_id = ?", (manifest["run_id"],)):
            continue   # a run of this store: replay applies its results
        total += _import(db, manifest, run_dir, now)
    return total


def _manifest(run_dir: Path) -> dict[str, Any]:
    try:
        manifest = read_manifest(run_dir)
    except BulkUpdateError as exc:
        raise StateError(f"state import: {exc}") from None
    owner = holder(run_dir)
    if owner is not None:
        raise StateError(f"state import: {run_dir} is in use by {describe_holder(owner)}: "
                         "import it once it has finished")
    manifest["input"] = str(_input_of(manifest, run_dir))
    return manifest


def _input_of(manifest: dict[str, Any], run_dir: Path) -> Path:
    """The run's input; a spooled one (standard input) in the run directory
    even when the directory has moved since."""
    path = Path(manifest["input"])
    moved = run_dir / path.name
    if not path.is_file() and manifest.get("spooled") and moved.is_file():
        return moved
    if not path.is_file():
        raise StateError(f"state import: {run_dir}: its input {path} no longer exists")
    return path


def _import(db: Db, manifest: dict[str, Any], run_dir: Path, now: int) -> int:
    api = api_of(manifest)
    when = _when(manifest) or now
    with db.transaction():
        db.execute("INSERT INTO runs (run_id, run_dir, api, started_at, imported) "
                   "VALUES (?, ?, ?, ?, 1)",
                   (manifest["run_id"], str(run_dir.resolve()), api, when))
    seq = int(db.one("SELECT seq FROM runs WHERE run_id = ?", (manifest["run_id"],))[0])
    imported = {int(s) for (s,) in db.all("SELECT seq FROM runs WHERE imported = 1")}
    batch: list[Entry] = []
    for entry in _entries(Path(manifest["input"]), api, when):
        batch.append(entry)
        if len(batch) >= BATCH:
            _marks_only(db, seq, batch)
            batch = []
    _marks_only(db, seq, batch)

    def writable(row: Row) -> bool:
        return row.writer == 0 or row.writer in imported

    applied = apply_results(db, seq, run_dir / RESULTS, when, writable)
    db.execute("DELETE FROM marks WHERE run = ?", (seq,))
    return applied


def _marks_only(db: Db, seq: int, entries: list[Entry]) -> None:
    """What each line sent, without putting any key in doubt: an imported run
    is over, its results are all there is."""
    if entries:
        mark_pending(db, seq, entries, rows=False)


def _entries(path: Path, api: str, when: int) -> Iterator[Entry]:
    sent_at = datetime.fromtimestamp(when / 1e6).astimezone()
    for line, raw in iter_lines(path, api=api):
        try:
            item = orjson.loads(raw)
            keys = keys_of(item.get("customer"))
            intents = intents_of(api, item, sent_at)
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
            continue   # an invalid line: its result says so, and it confirms nothing
        if keys and intents:
            yield line, keys, intents


def _when(manifest: dict[str, Any]) -> int | None:
    """When the run confirmed what it did: its end, else its start."""
    for field in ("ended_at", "started_at"):
        value = manifest.get(field)
        if isinstance(value, str):
            try:
                return to_micros(datetime.fromisoformat(value))
            except ValueError:
                continue
    return None
