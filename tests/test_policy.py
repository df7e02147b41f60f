"""exitcode.py: which finished runs exit 0; the allowance parsed once into a value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bulkupdate.errors import UsageError
from bulkupdate.night.exitcode import (
    EXIT_ABORTED,
    EXIT_INTERRUPTED,
    Allowance,
    exit_code_of,
    finished_exit_code,
)
from bulkupdate.settings import Settings, load_settings


def summary(records: int = 1000, complete: bool = True, **outcomes: int) -> dict[str, Any]:
    counts = {"ok": 0, "partial": 0, "rejected": 0, "retryable": 0, "invalid": 0, **outcomes}
    counts["ok"] = records - sum(v for k, v in counts.items() if k != "ok")
    return {"input_records": records, "complete": complete, "outcomes": counts}


def test_default_allows_nothing() -> None:
    assert finished_exit_code(summary()) == 0
    assert finished_exit_code(summary(rejected=1)) == 1


@pytest.mark.parametrize(("allowance", "failures", "code"), [
    ("3", 3, 0), ("3", 4, 1), ("0.5%", 5, 0), ("0.5%", 6, 1), ("100%", 1000, 0),
])
def test_definite_failures_within_the_allowance_exit_0(allowance: str, failures: int,
                                                         code: int) -> None:
    s = summary(rejected=failures - failures // 2, invalid=failures // 2)
    assert finished_exit_code(s, allowance) == code


def test_a_retryable_record_always_exits_1() -> None:
    assert finished_exit_code(summary(retryable=1), "100%") == 1


def test_an_incomplete_run_never_exits_0() -> None:
    assert finished_exit_code(summary(complete=False), "100%") == 1


def test_partial_counts_as_definite() -> None:
    assert finished_exit_code(summary(partial=2), "2") == 0


@pytest.mark.parametrize("text", ["-1", "x", "5%%", "101%", "1.5"])
def test_bad_allowance_says_how_to_write_it(text: str) -> None:
    with pytest.raises(UsageError, match=r"e\.g\. 0\.5%"):
        Allowance.parse(text)


@pytest.mark.parametrize("text", ["0", "25", "0.5%", "100%", "7.25%"])
def test_an_allowance_prints_back_as_it_was_written(text: str) -> None:
    assert str(Allowance.parse(text)) == text
    assert Allowance.parse(str(Allowance.parse(text))) == Allowance.parse(text)


def test_an_allowance_is_parsed_once_from_any_source(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('allow_failures = "2%"\n')
    url = "https://api.example.com"
    from_file = load_settings({"base_url": url}, config_path=config, env={})
    from_env = load_settings({"base_url": url}, config_path=None,
                             env={"BULKUPDATE_ALLOW_FAILURES": "2%"})
    from_flag = load_settings({"base_url": url, "allow_failures": "2%"}, config_path=None,
                              env={})
    from_library = Settings(base_url=url, allow_failures="2%")  # type: ignore[arg-type]
    assert {from_file.allow_failures, from_env.allow_failures, from_flag.allow_failures,
            from_library.allow_failures} == {Allowance(percent=2.0)}
    assert from_file.public()["allow_failures"] == "2%"
    resumed = load_settings({}, config_path=None, env={}, base=from_file.public())
    assert resumed.allow_failures == Allowance(percent=2.0)
    assert Settings(base_url=url, allow_failures=3).allow_failures == Allowance(count=3)  # type: ignore[arg-type]


def test_the_exit_code_of_a_closed_session() -> None:
    assert exit_code_of(summary(), aborted=True) == EXIT_ABORTED
    assert exit_code_of(summary(), interrupted=True) == EXIT_INTERRUPTED
    assert exit_code_of(summary(rejected=1), Allowance(count=1)) == 0
    assert exit_code_of(summary(complete=False), Allowance(percent=100.0)) == 1


def test_unchanged_counts_as_ok() -> None:
    assert finished_exit_code(summary(unchanged=990)) == 0
    assert finished_exit_code(summary(unchanged=990, retryable=1)) == 1


def test_a_share_allowed_is_of_the_records_sent_not_of_the_unchanged() -> None:
    # 1000 records, 900 unchanged: 100 sent; 1% of them is 1 failure, not 10.
    assert finished_exit_code(summary(unchanged=900, rejected=1), "1%") == 0
    assert finished_exit_code(summary(unchanged=900, rejected=2), "1%") == 1
