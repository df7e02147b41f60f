"""planning/: the plan's figures, its guards, the in-file repeat filter, and the
plan files the send pass reads (pure parts; the pass with a real store is e2e)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from bulkupdate.night.exitcode import Allowance
from bulkupdate.planning.files import PlanReader, PlanWriter
from bulkupdate.planning.seen import Seen
from bulkupdate.planning.tally import Tally, describe, refusal
from bulkupdate.settings import Rate


@dataclass(frozen=True)
class D:
    send: bool
    category: str
    transitions: tuple[tuple[str, str | None, str | None], ...] = ()
    rejected_last: bool = False


def tally(unchanged: int, changed: int, new: int = 0, absent: int = 0) -> Tally:
    t = Tally()
    for _ in range(unchanged):
        t.add(D(False, "unchanged"), False)
    for _ in range(changed):
        t.add(D(True, "changed", (("P1", "Gold", "Silver"),)), False)
    for _ in range(new):
        t.add(D(True, "new"), False)
    t.absent = {"P1": absent} if absent else {}
    return t


def test_a_repeated_customer_is_sent_even_when_the_store_says_unchanged() -> None:
    t = Tally()
    assert t.add(D(False, "unchanged"), True) is True
    assert t.categories["repeat"] == 1 and t.send == 1 and t.unchanged == 0


def test_the_plan_says_transitions_and_the_time_at_the_rate() -> None:
    text = "\n".join(describe(tally(900, 100, 5, absent=7), Rate(100, 60.0), 50))
    assert "105 to send, 900 unchanged" in text
    assert "P1: Gold → Silver 100" in text
    assert "absent from this file" in text and "P1 7" in text
    assert "3 requests" in text and "100/min" in text


def test_max_changes_counts_new_keys_against_a_share_of_the_file() -> None:
    t = tally(880, 100, 20)            # 120 of 1000 to send
    assert refusal(t, Allowance(percent=12), None) is None
    why = refusal(t, Allowance(percent=10), None)
    assert why is not None and "--max-changes 10%" in why and "120 of 1,000" in why
    assert refusal(t, Allowance(count=119), None) is not None


def test_max_missing_is_a_share_of_what_the_store_holds() -> None:
    t = tally(500, 0, absent=500)       # the store held 1000, half are absent
    assert refusal(t, None, Allowance(percent=50)) is None
    why = refusal(t, None, Allowance(percent=10))
    assert why is not None and "--max-missing" in why and "500 keys" in why


def test_seen_knows_every_key_it_was_given_and_few_others() -> None:
    seen = Seen(20_000)
    for n in range(10_000):
        assert not seen.named_before((f"mobile:9{n}",))
    assert all(seen.named_before((f"mobile:9{n}",)) for n in range(10_000))
    false = sum(seen.named_before((f"externalId:x{n}",)) for n in range(10_000))
    assert false < 10


def test_the_plan_files_give_back_the_skipped_lines_in_order(tmp_path: Path) -> None:
    writer = PlanWriter(tmp_path)
    for line in (1, 7, 8, 4000):
        writer.skip(line, {"line": line, "outcome": "unchanged"})
    writer.finish()
    reader = PlanReader.of(tmp_path)
    assert reader is not None
    assert [n for n in range(1, 4100) if reader.skipped(n)] == [1, 7, 8, 4000]
    assert reader.skipped_count == 4
    assert [orjson.loads(reader.line_of(n))["line"] for n in (1, 7, 8, 4000)] == [
        1, 7, 8, 4000]
    assert PlanReader.of(tmp_path / "none") is None


def test_a_plan_line_that_is_not_the_lines_is_refused(tmp_path: Path) -> None:
    writer = PlanWriter(tmp_path)
    for line in (1, 17):
        writer.skip(line, {"line": line, "outcome": "unchanged"})
    writer.finish()
    reader = PlanReader.of(tmp_path)
    assert reader is not None
    reader.line_of(1)
    with pytest.raises(ValueError, match="expected line 7, found 17"):
        reader.line_of(7)      # never the line 17's result for line 7 (nor 1's for 17)


def test_seen_grows_when_more_keys_come_than_expected() -> None:
    seen = Seen(1000)   # a compressed input: its length was not known
    for n in range(20_000):
        assert not seen.named_before((f"id:{n}",)) or n > 0
    assert len(seen.layers) > 1
    assert all(seen.named_before((f"id:{n}",)) for n in range(0, 20_000, 7))
    false = sum(seen.named_before((f"email:{n}",)) for n in range(10_000))
    assert false < 10
