"""policy.py: which finished runs exit 0."""

from __future__ import annotations

from typing import Any

import pytest

from bulkupdate.errors import UsageError
from bulkupdate.exitcode import finished_exit_code, parse_allowance


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
        parse_allowance(text)
