"""``manifest.json``: what the run is (id, the API it serves, input and its
fingerprint, settings without secrets, version) and one entry per session, written atomically."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from ..errors import LedgerError
from ..source.lines import scan_input
from ..version import __version__
from .check import check_manifest, parse_json
from .files import MANIFEST, now_iso, write_json_atomic
from .private import open_file

MAX_MANIFEST = 1 << 24   # a manifest is a few kB; more is not ours


def new_manifest(input_path: Path, settings: dict[str, Any], *, from_stdin: bool,
                 spooled: bool, fingerprint: dict[str, Any],
                 api: str = "update", run_id: str | None = None) -> dict[str, Any]:
    """``api``: which API the run serves (an endpoint's name: ``update``, ``link``),
    so ``resume`` and ``report`` need no flag to know; ``run_id``: one chosen
    before (a state store registered the run under it), else a new one."""
    return {
        "run_id": run_id or uuid.uuid4().hex,
        "api": api,
        "tool_version": __version__,
        "input": str(input_path.resolve()),
        "stdin": from_stdin,
        "spooled": spooled or from_stdin,   # the input lives in the run directory
        "input_fingerprint": fingerprint,
        "settings": settings,
        "started_at": now_iso(),
        "ended_at": None,
        "sessions": [],
    }


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """The manifest, checked (keys and types): a damaged one is refused, never
    half-believed."""
    path = run_dir / MANIFEST
    try:
        with open_file(path) as fh:
            raw = fh.read(MAX_MANIFEST)
    except FileNotFoundError:
        raise LedgerError(f"{run_dir} is not a run directory (no {MANIFEST})") from None
    except NotADirectoryError:
        raise LedgerError(f"{run_dir} is not a directory") from None
    return check_manifest(parse_json(raw, str(path)), path)


def api_of(manifest: dict[str, Any]) -> str:
    """The API a run served; a manifest without ``api`` is an update run's."""
    return str(manifest.get("api", "update"))


def check_input(manifest: dict[str, Any]) -> int:
    """The run's input, refused if it is gone, damaged or changed since the run
    began; returns its number of physical lines (the range of line numbers)."""
    path = Path(manifest["input"])
    if not path.is_file():
        raise LedgerError(f"the run's input {path} no longer exists")
    found, lines = scan_input(path, api_of(manifest))
    if found != manifest["input_fingerprint"]:
        raise LedgerError(f"the run's input {path} changed since the run began "
                          "(size or SHA-256 differ): resuming would mix two inputs. "
                          "Start a new run instead")
    return lines


def begin_session(run_dir: Path, manifest: dict[str, Any], started_at: str,
                  **extra: Any) -> dict[str, Any]:
    """Recorded at the start, so a session killed with SIGKILL still shows, with
    ``ended_at: null``. ``extra``: e.g. the settings this session changed."""
    session: dict[str, Any] = {"started_at": started_at, "ended_at": None, "exit_code": None,
                               **extra}
    manifest["sessions"].append(session)
    write_json_atomic(run_dir / MANIFEST, manifest)
    return session


def end_session(run_dir: Path, manifest: dict[str, Any], session: dict[str, Any],
                figures: dict[str, Any]) -> None:
    session.update(figures)
    manifest["ended_at"] = session.get("ended_at")
    write_json_atomic(run_dir / MANIFEST, manifest)
