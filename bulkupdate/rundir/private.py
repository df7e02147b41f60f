"""The run directory as a private place: 0700, every file in it 0600 whatever
the umask, nothing opened through a symbolic link.

Files are opened with ``O_NOFOLLOW``, so a planted link is refused instead of
followed; a run directory that holds one, or anything but regular files, is
refused whole; ``--run-dir`` must be new, empty, or a run directory of ours.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from ..base.safefiles import DIR_MODE, FILE_MODE, open_fd, open_file, write_atomic
from ..errors import LedgerError
from .files import MANIFEST
from .lock import describe_holder, holder

__all__ = ["DIR_MODE", "FILE_MODE", "abandon", "ensure_fresh", "open_fd", "open_file",
           "prepare", "write_atomic"]

def prepare(run_dir: Path, *, new: bool) -> bool:
    """Make ``run_dir`` safe to use; True when it was created here.

    ``new`` (``run``): it must not exist, or be an empty directory. Otherwise
    (``resume``) it must be a run directory. Either way it must be a real
    directory of ours (not a symbolic link), and it is left 0700 with every
    file in it a regular 0600 file."""
    created = False
    try:
        st = os.lstat(run_dir)
    except FileNotFoundError:
        if not new:
            raise LedgerError(f"{run_dir} is not a run directory (it does not exist)") from None
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(run_dir, DIR_MODE)
        st, created = os.lstat(run_dir), True
    except NotADirectoryError:
        raise LedgerError(f"{run_dir}: a parent of it is not a directory") from None
    if stat.S_ISLNK(st.st_mode):
        raise LedgerError(f"{run_dir} is a symbolic link: give the real directory")
    if not stat.S_ISDIR(st.st_mode):
        raise LedgerError(f"{run_dir} exists and is not a directory")
    if st.st_uid != os.geteuid():
        raise LedgerError(f"{run_dir} belongs to another user (uid {st.st_uid})")
    entries = sorted(os.listdir(run_dir))
    if new and MANIFEST in entries:
        owner = holder(run_dir)
        if owner is not None:
            raise LedgerError(f"{run_dir} already holds a run, in progress: "
                              f"{describe_holder(owner)}; choose another --run-dir")
        raise LedgerError(f"{run_dir} already holds a run: use 'bulkupdate resume "
                          f"{run_dir}' to finish it, or choose another --run-dir")
    if new and entries:
        raise LedgerError(f"{run_dir} is not empty and not a run directory: "
                          "choose a new or empty --run-dir")
    if not new and MANIFEST not in entries:
        raise LedgerError(f"{run_dir} is not a run directory (no {MANIFEST})")
    os.chmod(run_dir, DIR_MODE)
    for name in entries:
        _make_private(run_dir / name)
    return created


def _make_private(path: Path) -> None:
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise LedgerError(f"{path} is a symbolic link: a run directory holds only "
                          "regular files; remove it")
    if not stat.S_ISREG(st.st_mode):
        raise LedgerError(f"{path} is not a regular file; remove it")
    if stat.S_IMODE(st.st_mode) != FILE_MODE:
        os.close(open_fd(path, os.O_RDWR))   # fchmod on what was opened, not on a name


def ensure_fresh(run_dir: Path) -> None:
    """A new run goes only into a new or empty directory of ours (made private)."""
    prepare(run_dir, new=True)


def abandon(run_dir: Path, *, remove_dir: bool) -> None:
    """Empty a run directory that never got a manifest (the input turned out
    damaged), and remove it if this process created it: nothing is left
    half-created. It was empty when this process claimed it."""
    for name in os.listdir(run_dir):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(run_dir / name)
    if remove_dir:
        with contextlib.suppress(OSError):
            os.rmdir(run_dir)
