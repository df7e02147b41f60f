"""estimate.py: the time an input takes at the rate in force, said up front."""

from __future__ import annotations

from pathlib import Path

import pytest

from bulkupdate.errors import UsageError
from bulkupdate.planning.estimate import duration, seconds, sentence
from bulkupdate.settings import Rate, Sources, default_of, load_with_sources, merge, parse_rate

URL = "http://127.0.0.1:9"


def test_five_million_at_the_default_rate_take_16_h_40_min() -> None:
    assert default_of("rate") == Rate(100, 60.0)
    assert seconds(5_000_000, default_of("rate"), 50) == 100_000 * 0.6
    text = sentence(5_000_000, default_of("rate"), 50, Sources().said("rate"))
    assert text.startswith("5,000,000 records at --rate 100/min (the default; pass --rate)")
    assert "about 16 h 40 min" in text


def test_durations_read_like_a_clock() -> None:
    assert [duration(s) for s in (12, 200, 3600, 60_000, 200_000)] == [
        "12 s", "3 min 20 s", "1 h", "16 h 40 min", "2 d 7 h"]


def test_the_loader_says_where_the_rate_came_from_strongest_first(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('rate = "1/s"\n')
    env = {"BULKUPDATE_RATE": "5/s"}

    def said(flag: str | None, env: dict[str, str], path: Path | None,
             base: dict[str, str] | None = None) -> str:
        return load_with_sources({"rate": flag, "base_url": URL}, config_path=path, env=env,
                    base=base)[1].said("rate")

    assert said("10/s", env, config) == "from --rate"
    assert said(None, env, config) == "from BULKUPDATE_RATE"
    assert said(None, {}, config) == f"from the config file {config}"
    assert said(None, {}, None, {"rate": "1/s"}) == "the run's own"
    assert said(None, {}, None) == "the default; pass --rate"


def test_merge_checks_only_the_settings_asked_for() -> None:
    env = {"BULKUPDATE_TIMEOUT": "soon", "BULKUPDATE_BATCH_SIZE": "20"}
    given, sources = merge({"rate": "10/s"}, config_path=None, env=env,
                           names=("rate", "batch_size"))
    assert given == {"rate": parse_rate("10/s"), "batch_size": 20}
    assert sources.said("batch_size") == "from BULKUPDATE_BATCH_SIZE"
    with pytest.raises(UsageError, match="--batch-size 99"):
        merge({"batch_size": "99"}, config_path=None, env={}, names=("batch_size",))


def test_an_unknown_size_says_so_and_gives_the_rate_per_million() -> None:
    text = sentence(None, parse_rate("100/s"), 50, "from --rate", "standard input")
    assert text.startswith("standard input at --rate 100/s (from --rate): no estimate")
    assert "0.1 h per million records" in text


def test_verify_says_its_reads_and_their_time_before_reading() -> None:
    from bulkupdate.planning.estimate import verify_reads, verify_sentence
    from bulkupdate.settings import parse_rate

    assert verify_reads(uncertain=1300, ok=40_000, sample=50) == 1350
    assert verify_reads(uncertain=0, ok=3, sample=50) == 3
    assert verify_reads(uncertain=0, ok=3, sample=50, unchanged=900) == 53
    assert verify_sentence(1350, parse_rate("200/min")) == (
        "verify reads back 1,350 records, one read each, at --rate 200/min: about 6 min 45 s "
        "(more with retries and 429s)")
    assert verify_sentence(1, parse_rate("10/s")).startswith("verify reads back 1 record,")
