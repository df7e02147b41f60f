"""The embedded backend: one SQLite file, private (0600 whatever the umask,
directories we create 0700), in WAL mode with ``synchronous=FULL`` so a commit
is on disk when it returns. The lease is an ``flock`` on ``<file>.lock`` next
to it: the kernel drops it when the holder dies, even by ``kill -9``. (Who
holds it is in the store's ``lease`` row, as for PostgreSQL.)"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path

from ..base.safefiles import DIR_MODE, open_fd
from ..errors import LedgerError
from .db import Db
from .errors import StateError

CACHE_KIB = 32_768   # a million customers' lookups stay in memory, within a night's RSS budget
BUSY_MS = 30_000   # another process writing (a verify while a run works) waits, then fails


def connect(path: Path) -> Db:
    _make_dirs(path.parent)
    try:
        os.close(open_fd(path, os.O_RDWR | os.O_CREAT))   # 0600 before SQLite writes a byte
    except LedgerError as exc:
        raise StateError(f"state: {exc}") from None
    except OSError as exc:
        raise StateError(f"state: cannot open {path}: {exc.strerror}") from None
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        # Deleted rows (an identifier's row moving to its id, a forgotten person) are
        # overwritten, not left in free space: the file holds personal data.
        conn.execute("PRAGMA secure_delete = ON")
    except sqlite3.DatabaseError as exc:
        raise StateError(f"state: {path} is not a usable SQLite database ({exc})") from None
    return Db(conn, "sqlite")


def _make_dirs(directory: Path) -> None:
    """Create the missing directories, each 0700 whatever the umask."""
    missing = []
    while not directory.exists():
        missing.append(directory)
        if directory.parent == directory:
            break
        directory = directory.parent
    for each in reversed(missing):
        try:
            os.mkdir(each, DIR_MODE)
        except FileExistsError:
            continue
        except OSError as exc:
            raise StateError(f"state: cannot create {each}: {exc.strerror}") from None
        os.chmod(each, DIR_MODE)


class FileLease:
    """The exclusive lease on one SQLite store, held by one run at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path.with_name(path.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> bool:
        fd = open_fd(self.path, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)   # closing drops the flock
            self._fd = None
