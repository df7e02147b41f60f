"""ledger.py: torn tails, the line bitmap, derived retry and summary files."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkupdate.errors import LedgerError
from bulkupdate.results import RecordResult
from bulkupdate.rundir import Ledger, LineSet, repair_tail
from bulkupdate.rundir.files import append_whole, is_disk_full, open_append


@given(st.lists(st.integers(1, 100_000), max_size=200))
def test_lineset_is_a_set(lines: list[int]) -> None:
    s = LineSet()
    for line in lines:
        s.add(line)
    assert s.count == len(set(lines))
    assert all(line in s for line in lines)
    assert all((line + 100_001) not in s for line in lines)


def test_repair_tail_cuts_only_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"line":1}\n{"line":2}\n{"line":3,"outc')
    assert repair_tail(path) == len(b'{"line":3,"outc')
    assert path.read_bytes() == b'{"line":1}\n{"line":2}\n'
    assert repair_tail(path) == 0
    path.write_bytes(b'{"li')
    repair_tail(path)
    assert path.read_bytes() == b""


def typed(*lines: dict[str, Any]) -> list[RecordResult]:
    """Results as the run hands them to the ledger, from the keys a test cares about."""
    return [RecordResult.from_line({**line, "programs": [
        {"partnerProgramName": "P", "updateType": "RENEW", "ok": False, **p}
        for p in line.get("programs") or ()]}) for line in lines]


def make_run(tmp_path: Path) -> tuple[Ledger, Path]:
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"a":1}\n\n{"a":2}\n{"a":3}\n')
    return Ledger.create(tmp_path / "run", src, {"rate": "1/s"}), src


def test_results_are_never_written_twice(tmp_path: Path) -> None:
    ledger, _ = make_run(tmp_path)
    ledger.open()
    ok: dict = {"outcome": "ok", "programs": []}
    assert ledger.write_results(typed({"line": 1, **ok})) == 1
    assert ledger.write_results(typed({"line": 1, "outcome": "rejected", "programs": []},
                                      {"line": 3, **ok})) == 1
    ledger.close()
    lines = (tmp_path / "run" / "results.jsonl").read_bytes().splitlines()
    assert [orjson.loads(x)["outcome"] for x in lines] == ["ok", "ok"]
    assert ledger.duplicates == 1


def test_finalize_derives_retry_file_and_summary(tmp_path: Path) -> None:
    ledger, _ = make_run(tmp_path)
    ledger.open()
    ledger.write_results(typed({"line": 1, "outcome": "ok", "programs": [{"code": 200}]},
                               {"line": 3, "outcome": "retryable", "uncertain": True},
                               {"line": 4, "outcome": "rejected", "code": 8015,
                                "programs": [{"code": 8015}]}))
    ledger.close()
    session = ledger.begin_session("2026-11-25T00:00:00Z")
    ledger.end_session(session, {"requests": 2, "results": 3, "duration_s": 1.5,
                                 "ended_at": "2026-11-25T00:00:02Z"})
    summary = ledger.finalize()
    assert (tmp_path / "run" / "retry.jsonl").read_bytes() == b'{"a":2}\n'
    assert summary["complete"] and summary["input_records"] == 3
    assert summary["outcomes"] == {"ok": 1, "already": 0, "partial": 0, "rejected": 1,
                                   "retryable": 1, "invalid": 0, "unchanged": 0}
    assert summary["codes"] == {"200": 1, "8015": 1}
    assert summary["uncertain"] == 1 and summary["results_per_s"] == 2.0


def test_reopen_knows_what_was_sent_but_not_answered(tmp_path: Path) -> None:
    ledger, _ = make_run(tmp_path)
    ledger.open()
    ledger.record_sent([1, 3], 1.0)
    ledger.write_results(typed({"line": 1, "outcome": "ok", "programs": []}))
    refused = ledger.record_sent([3, 4], 2.0)
    ledger.record_not_applied(refused)         # a 503: nothing was applied
    ledger.record_sent([4], 3.0)                  # then the crash
    ledger.close()
    ledger.release()
    again = Ledger.reopen(tmp_path / "run")
    assert 1 in again.done and 3 not in again.done
    assert again.sent_before == {3: 2, 4: 2}
    assert again.maybe_applied == {3, 4}       # 3: the first request never answered


def test_a_second_run_in_the_same_directory_is_refused(tmp_path: Path) -> None:
    first, _ = make_run(tmp_path)
    with pytest.raises(LedgerError, match=f"in progress: pid {os.getpid()}"):
        make_run(tmp_path)
    first.release()
    with pytest.raises(LedgerError, match="resume"):
        make_run(tmp_path)


def test_not_a_run_directory(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="not a run directory"):
        Ledger.reopen(tmp_path)


def test_customer_not_found_counts_once_per_customer_not_per_program(tmp_path: Path) -> None:
    ledger, _ = make_run(tmp_path)
    ledger.open()
    ledger.write_results(typed(
        {"line": 1, "outcome": "rejected", "code": 8015,
         "programs": [{"code": 8015}, {"code": 8015}, {"code": 8015}]},
        {"line": 3, "outcome": "partial", "programs": [{"code": 200}, {"code": 2004}]},
        {"line": 4, "outcome": "rejected", "code": 8015, "programs": [{"code": 8015}]}))
    ledger.close()
    assert dict(ledger.results.codes) == {8015: 2, 200: 1, 2004: 1}


def test_a_session_records_the_settings_it_changed(tmp_path: Path) -> None:
    ledger, _ = make_run(tmp_path)
    ledger.begin_session("2026-11-25T00:00:00Z",
                         settings_changed={"base_url": "http://127.0.0.2:9"})
    manifest = orjson.loads((tmp_path / "run" / "manifest.json").read_bytes())
    assert manifest["sessions"][0]["settings_changed"] == {"base_url": "http://127.0.0.2:9"}


class FillingDisk:
    """A run-directory file on a disk that fills up: while ``full``, a write
    takes what ``room`` bytes allow (a short write), then refuses with ENOSPC.
    The ledger's own I/O edge, nothing else replaced."""

    def __init__(self, fh: Any) -> None:
        self._fh = fh
        self.full = False
        self.room = 0

    def write(self, data: Any) -> int:
        if not self.full:
            return int(self._fh.write(data))
        if self.room:
            taken = self._fh.write(bytes(data)[:self.room])
            self.room = 0
            return int(taken)
        raise OSError(errno.ENOSPC, "No space left on device", "results.jsonl")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)


def test_a_write_the_disk_cuts_short_leaves_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    disk = FillingDisk(open_append(path))
    append_whole(disk, b'{"line":1}\n')
    disk.full, disk.room = True, 5
    with pytest.raises(OSError) as caught:
        append_whole(disk, b'{"line":2}\n{"line":3}\n')
    assert is_disk_full(caught.value)
    assert path.read_bytes() == b'{"line":1}\n'   # the 5 bytes taken were cut again
    disk.full = False
    append_whole(disk, b'{"line":2}\n')
    disk.close()
    assert path.read_bytes() == b'{"line":1}\n{"line":2}\n'


def test_answers_a_full_disk_refuses_wait_in_memory_and_nothing_is_sent(
        tmp_path: Path) -> None:
    ledger, _ = make_run(tmp_path)
    ledger.open()
    noticed: list[OSError] = []
    ledger.on_full = noticed.append
    disk = FillingDisk(ledger.results.file)
    ledger.results.file = disk
    assert ledger.record_sent([1, 3], 1.0) is not None
    disk.full, disk.room = True, 7
    result = {"line": 1, "outcome": "invalid", "error": "x"}
    assert ledger.write_results(typed(result)) == 1      # reported, kept in memory
    assert len(noticed) == 1 and is_disk_full(noticed[0])
    assert ledger.record_sent([4], 2.0) is None          # so the request must not leave
    ledger.record_not_applied("x-1")                      # kept, after the result
    assert ledger.write_results(typed(dict(result, line=3))) == 1
    assert not ledger.flush_backlog()
    assert (tmp_path / "run" / "results.jsonl").read_bytes() == b""
    disk.full = False
    assert ledger.flush_backlog() and not ledger.backlog
    ledger.close()
    lines = [orjson.loads(x) for x in (tmp_path / "run" / "results.jsonl").read_bytes()
             .splitlines()]
    assert [r["line"] for r in lines] == [1, 3]
    sent = (tmp_path / "run" / "sent.jsonl").read_bytes().splitlines()
    assert len(sent) == 2 and b'"answered":"x-1"' in sent[1]   # request [4] never journaled
