"""``manifest.json``: what the run is (id, input and its fingerprint, settings
without secrets, version) and one entry per session, written atomically."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import orjson

from ..errors import LedgerError
from ..source import fingerprint
from ..version import __version__
from .files import MANIFEST, now_iso, write_json_atomic


def new_manifest(input_path: Path, settings: dict[str, Any], *, from_stdin: bool,
                 spooled: bool) -> dict[str, Any]:
    return {
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


def read_manifest(run_dir: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = orjson.loads((run_dir / MANIFEST).read_bytes())
    except FileNotFoundError:
        raise LedgerError(f"{run_dir} is not a run directory (no {MANIFEST})") from None
    except orjson.JSONDecodeError:
        raise LedgerError(f"{run_dir / MANIFEST} is damaged (not JSON)") from None
    return manifest


def check_input(manifest: dict[str, Any]) -> Path:
    """The run's input, refused if it is gone or changed since the run began."""
    path = Path(manifest["input"])
    if not path.exists():
        raise LedgerError(f"the run's input {path} no longer exists")
    if fingerprint(path) != manifest["input_fingerprint"]:
        raise LedgerError(f"the run's input {path} changed since the run began "
                          "(size or SHA-256 differ): resuming would mix two inputs. "
                          "Start a new run instead")
    return path


def begin_session(run_dir: Path, manifest: dict[str, Any], started_at: str) -> dict[str, Any]:
    """Recorded at the start, so a session killed with SIGKILL still shows, with
    ``ended_at: null``."""
    session: dict[str, Any] = {"started_at": started_at, "ended_at": None, "exit_code": None}
    manifest["sessions"].append(session)
    write_json_atomic(run_dir / MANIFEST, manifest)
    return session


def end_session(run_dir: Path, manifest: dict[str, Any], session: dict[str, Any],
                figures: dict[str, Any]) -> None:
    session.update(figures)
    manifest["ended_at"] = session.get("ended_at")
    write_json_atomic(run_dir / MANIFEST, manifest)
