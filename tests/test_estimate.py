"""estimate.py: the time an input takes at the rate in force, said up front."""

from __future__ import annotations

from pathlib import Path

from bulkupdate.estimate import (
    count_once,
    counted,
    default_rate,
    duration,
    rate_source,
    seconds,
    sentence,
)
from bulkupdate.settings import Rate, parse_rate


def test_five_million_at_the_default_rate_take_16_h_40_min() -> None:
    assert default_rate() == Rate(100, 60.0)
    assert seconds(5_000_000, default_rate(), 50) == 100_000 * 0.6
    text = sentence(5_000_000, default_rate(), 50, rate_source(None, {}, {}, None))
    assert text.startswith("5,000,000 records at --rate 100/min (the default; pass --rate)")
    assert "about 16 h 40 min" in text


def test_durations_read_like_a_clock() -> None:
    assert [duration(s) for s in (12, 200, 3600, 60_000, 200_000)] == [
        "12 s", "3 min 20 s", "1 h", "16 h 40 min", "2 d 7 h"]


def test_the_source_of_the_rate_is_named_strongest_first() -> None:
    env = {"BULKUPDATE_RATE": "5/s"}
    assert rate_source("10/s", env, {"rate": "1/s"}, Path("c.toml")) == "from --rate"
    assert rate_source(None, env, {"rate": "1/s"}, Path("c.toml")) == "from BULKUPDATE_RATE"
    assert "config file c.toml" in rate_source(None, {}, {"rate": "1/s"}, Path("c.toml"))
    assert rate_source(None, {}, {}, None, {"rate": "1/s"}) == "the run's own"


def test_an_unknown_size_says_so_and_gives_the_rate_per_million() -> None:
    text = sentence(None, parse_rate("100/s"), 50, "from --rate", "standard input")
    assert text.startswith("standard input at --rate 100/s (from --rate): no estimate")
    assert "0.1 h per million records" in text


def test_an_unchanged_file_is_counted_once(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"{}\n\n{}\n")
    assert counted(src) is None                     # never counts by itself
    assert count_once(src) == 2 and counted(src) == 2
    src.write_bytes(b"{}\n{}\n{}\n{}\n")            # changed: counted again
    assert counted(src) is None and count_once(src) == 4


def test_verify_says_its_reads_and_their_time_before_reading() -> None:
    from bulkupdate.estimate import verify_reads, verify_sentence
    from bulkupdate.settings import parse_rate

    assert verify_reads(uncertain=1300, ok=40_000, sample=50) == 1350
    assert verify_reads(uncertain=0, ok=3, sample=50) == 3
    assert verify_sentence(1350, parse_rate("200/min")) == (
        "verify reads back 1,350 records, one read each, at --rate 200/min: about 6 min 45 s "
        "(more with retries and 429s)")
    assert verify_sentence(1, parse_rate("10/s")).startswith("verify reads back 1 record,")
