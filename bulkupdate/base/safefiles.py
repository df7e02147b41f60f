"""Files of our own, opened carefully: never through a symbolic link, never
blocking on a FIFO, only regular files, 0600 whatever the umask; replaced
atomically, or appended whole lines at a time.

The low-level piece the run directory (:mod:`bulkupdate.rundir`), the input
spooler (:mod:`bulkupdate.source.spool`) and the run's log (:mod:`bulkupdate.base.logs`)
share; it depends on nothing of bulkupdate but :mod:`bulkupdate.errors`, so
none of them has to import another to write a private file.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import LedgerError

DIR_MODE = 0o700
FILE_MODE = 0o600

_FLAGS = {
    "rb": os.O_RDONLY,
    "r+b": os.O_RDWR,
    "wb": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
    "ab": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
    "a": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
}


def open_fd(path: Path, flags: int) -> int:
    """``os.open`` that never follows a symbolic link, never blocks on a FIFO,
    accepts only a regular file, and leaves a file it may write at 0600."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, FILE_MODE)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LedgerError(f"{path} is a symbolic link: refusing to follow it") from None
        if exc.errno == errno.ENXIO:
            raise LedgerError(f"{path} is not a regular file") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise LedgerError(f"{path} is not a regular file")
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        if flags & (os.O_WRONLY | os.O_RDWR) and stat.S_IMODE(st.st_mode) != FILE_MODE:
            os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_file(path: Path, mode: str = "rb") -> Any:
    """A file object for a run-directory file (modes ``rb r+b wb ab a``)."""
    fd = open_fd(path, _FLAGS[mode])
    if "b" in mode:
        return os.fdopen(fd, mode)
    return os.fdopen(fd, mode, encoding="utf-8")


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` at once: a reader sees the old or the new."""
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)   # a leftover, or something planted: unlink never follows
    fd = open_fd(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def open_append(path: Path) -> BinaryIO:
    """An unbuffered append-only file: what :func:`append_whole` writes is in the
    kernel when it returns, and nothing half-written waits in a buffer."""
    fh: BinaryIO = os.fdopen(open_fd(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND), "ab",
                             buffering=0)
    return fh


def append_whole(fh: BinaryIO, data: bytes) -> None:
    """Append ``data`` (whole lines) all or nothing. A full disk may take part of
    it (a short write) and then refuse the rest: the part is cut off again, so
    the file never ends in a torn line that a later append would glue onto."""
    view = memoryview(data)
    done = 0
    try:
        while done < len(view):
            done += fh.write(view[done:]) or 0
    except OSError:
        if done:
            # One writer (the run's lock): the file grew by exactly ``done``.
            fh.truncate(os.fstat(fh.fileno()).st_size - done)
        raise
