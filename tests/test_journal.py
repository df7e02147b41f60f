"""journal.py and the resume's hold: a record an earlier session left in flight
waits only what is left of ``settle`` since it was sent."""

from __future__ import annotations

import time
from pathlib import Path

import orjson

from bulkupdate.engine.reader import settle_left
from bulkupdate.rundir import LineSet
from bulkupdate.rundir.journal import Journal


def test_unfinished_lines_keep_the_wall_clock_time_of_their_last_send(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "sent.jsonl")
    journal.open()
    started = time.time()
    journal.record_sent([1, 2], time.monotonic())
    refused = journal.record_sent([2, 3], time.monotonic())
    journal.record_not_applied(refused)
    journal.record_sent([1], time.monotonic())
    assert journal.file is not None
    journal.file.close()
    again = Journal(tmp_path / "sent.jsonl")
    sent_before, maybe = again.unfinished(LineSet(), 10)
    assert sent_before == {1: 2, 2: 2, 3: 1} and maybe == {1, 2}
    assert set(again.last_sent) == {1, 2}          # 3 was refused: no hold owed
    assert again.last_sent[1] >= again.last_sent[2] >= started - 1
    assert again.last_sent[1] <= time.time() + 1


def test_a_sent_log_without_send_times_is_still_read(tmp_path: Path) -> None:
    path = tmp_path / "sent.jsonl"
    path.write_bytes(orjson.dumps({"req": "a-1", "lines": [4, 5]}) + b"\n"
                     + orjson.dumps({"req": "a-2", "t": 100.0, "lines": [6]}) + b"\n"
                     + orjson.dumps({"req": "a-3", "t": "soon", "lines": [6]}) + b"\n")
    journal = Journal(path)
    sent_before, maybe = journal.unfinished(LineSet(), 10)
    assert sent_before == {4: 1, 5: 1, 6: 2} and maybe == {4, 5, 6}
    assert journal.last_sent == {}      # no usable time: each is held a whole settle


def test_settle_left_is_the_remainder_and_never_less_than_nothing() -> None:
    assert settle_left(60.0, 1000.0, 1015.0) == 45.0
    assert settle_left(60.0, 1000.0, 1060.0) == 0.0
    assert settle_left(60.0, 1000.0, 5000.0) == 0.0


def test_settle_left_is_the_whole_settle_when_the_send_time_cannot_be_trusted() -> None:
    assert settle_left(60.0, None, 1000.0) == 60.0
    assert settle_left(60.0, 1200.0, 1000.0) == 60.0     # the clock went back
