"""One owner per run directory: ``run`` and ``resume`` hold an exclusive
``flock`` on its ``lock`` file for the whole session.

The kernel drops the lock when the process dies, even by ``kill -9``, so a
crashed run never needs cleaning up. The holder writes its pid, host and start
time into the file after locking, so the next one can say who holds it, and
empties it when done. ``report`` never holds the lock: when a name is written it
checks that it is not stale with a non-blocking shared lock dropped at once (a
new owner retries briefly for that reason).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from pathlib import Path
from typing import Any

import orjson

from ..base.safefiles import open_fd
from ..errors import LedgerError
from .files import LOCK, now_iso

LOCK_TRIES, LOCK_PAUSE = 5, 0.05


class RunLock:
    """The exclusive lock of one session on one run directory."""

    def __init__(self, fd: int, run_dir: Path) -> None:
        self._fd: int | None = fd
        self.run_dir = run_dir

    @classmethod
    def acquire(cls, run_dir: Path) -> RunLock:
        fd = open_fd(run_dir / LOCK, os.O_RDWR | os.O_CREAT)
        for attempt in range(LOCK_TRIES):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt == LOCK_TRIES - 1:
                    holder = describe_holder(_read_holder(fd))
                    os.close(fd)
                    raise LedgerError(
                        f"{run_dir} is in use by {holder}: one process at a time owns a "
                        "run directory (a second one would send records twice)") from None
                time.sleep(LOCK_PAUSE)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started_at": now_iso()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, orjson.dumps(me) + b"\n", 0)
        return cls(fd, run_dir)

    def release(self) -> None:
        if self._fd is not None:
            # Emptied first: an empty lock file tells `report` nobody is at work.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None


def holder(run_dir: Path) -> dict[str, Any] | None:
    """Who owns ``run_dir`` right now (pid, host, started_at), or None. Never
    waits and never keeps the lock."""
    try:
        fd = open_fd(run_dir / LOCK, os.O_RDONLY)
    except (OSError, LedgerError):
        return None
    try:
        info = _read_holder(fd)
        if info is None:
            return None   # emptied by an owner that finished cleanly
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return info
        return None       # a stale name: its owner died without emptying the file
    finally:
        os.close(fd)


def _read_holder(fd: int) -> dict[str, Any] | None:
    try:
        info = orjson.loads(os.pread(fd, 4096, 0))
    except (OSError, orjson.JSONDecodeError):
        return None
    return info if isinstance(info, dict) else None


def describe_holder(info: dict[str, Any] | None) -> str:
    if not info:
        return "another process"
    return (f"pid {info.get('pid')} on host {info.get('host')} "
            f"(since {info.get('started_at')})")
