"""rundir.private and rundir.lock: private files, no symlinks followed, one owner at a time."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bulkupdate.errors import LedgerError
from bulkupdate.rundir.lock import RunLock, holder
from bulkupdate.rundir.private import open_file, prepare, write_atomic


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_a_new_run_directory_is_0700_and_its_files_0600_whatever_the_umask(
        tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        assert prepare(tmp_path / "a" / "run", new=True)
        with open_file(tmp_path / "a" / "run" / "x.jsonl", "ab") as fh:
            fh.write(b"1\n")
        write_atomic(tmp_path / "a" / "run" / "m.json", b"{}")
    finally:
        os.umask(old)
    assert mode(tmp_path / "a" / "run") == 0o700
    assert {mode(p) for p in (tmp_path / "a" / "run").iterdir()} == {0o600}


def test_an_empty_directory_is_accepted_and_tightened(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir(mode=0o755)
    assert not prepare(tmp_path / "run", new=True)
    assert mode(tmp_path / "run") == 0o700


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: p.write_text("x"), "not a directory"),
    (lambda p: p.symlink_to(p.parent), "symbolic link"),
    (lambda p: (p.mkdir(), (p / "notes.txt").write_text("x")), "not empty"),
    (lambda p: (p.mkdir(), (p / "manifest.json").write_text("{}")), "already holds a run"),
])
def test_run_dir_must_be_new_empty_or_a_run(tmp_path: Path, make: object,
                                            message: str) -> None:
    target = tmp_path / "run"
    make(target)  # type: ignore[operator]
    with pytest.raises(LedgerError, match=message):
        prepare(target, new=True)


def test_a_planted_symlink_or_fifo_is_refused_never_followed(tmp_path: Path) -> None:
    run, victim = tmp_path / "run", tmp_path / "victim"
    victim.write_bytes(b"precious\n")
    run.mkdir()
    (run / "manifest.json").write_text("{}")
    (run / "results.jsonl").symlink_to(victim)
    with pytest.raises(LedgerError, match="symbolic link"):
        prepare(run, new=False)
    with pytest.raises(LedgerError, match="symbolic link"):
        open_file(run / "results.jsonl", "ab")
    (run / "results.jsonl").unlink()
    os.mkfifo(run / "results.jsonl")
    with pytest.raises(LedgerError, match="not a regular file"):
        prepare(run, new=False)
    with pytest.raises(LedgerError, match="not a regular file"):
        open_file(run / "results.jsonl", "rb")   # and it did not block
    assert victim.read_bytes() == b"precious\n"


def test_write_atomic_does_not_follow_a_planted_tmp_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    (tmp_path / "m.json.tmp").symlink_to(victim)
    write_atomic(tmp_path / "m.json", b"{}")
    assert victim.read_bytes() == b"precious" and (tmp_path / "m.json").read_bytes() == b"{}"


def test_one_owner_at_a_time_and_report_only_looks(tmp_path: Path) -> None:
    prepare(tmp_path / "run", new=True)
    lock = RunLock.acquire(tmp_path / "run")
    try:
        owner = holder(tmp_path / "run")
        assert owner is not None and owner["pid"] == os.getpid()
        with pytest.raises(LedgerError, match=f"in use by pid {os.getpid()} on host"):
            RunLock.acquire(tmp_path / "run")
        assert holder(tmp_path / "run") is not None   # looking took nothing away
    finally:
        lock.release()
    assert holder(tmp_path / "run") is None
    RunLock.acquire(tmp_path / "run").release()


def test_a_killed_owner_leaves_a_stale_name_that_is_not_a_holder(tmp_path: Path) -> None:
    prepare(tmp_path / "run", new=True)
    code = ("import os, sys; from pathlib import Path; from bulkupdate.rundir.lock import RunLock; "
            "RunLock.acquire(Path(sys.argv[1])); os._exit(9)")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "run")], check=False)
    assert (tmp_path / "run" / "lock").read_bytes()      # its name is still written
    assert holder(tmp_path / "run") is None
    RunLock.acquire(tmp_path / "run").release()
