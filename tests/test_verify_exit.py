"""The exit code policy with verdicts read back (exitcode.with_verdicts), verify's
own exit, and the library's no-side-effects rule for bulkupdate.verify()."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import bulkupdate
from bulkupdate.night.exitcode import exit_code_of, verify_exit_code, with_verdicts


def night(**outcomes: int) -> dict[str, Any]:
    full = {"ok": 0, "partial": 0, "rejected": 0, "retryable": 0, "invalid": 0, **outcomes}
    return {"outcomes": full, "input_records": sum(full.values()), "complete": True}


def test_uncertain_records_that_all_match_make_a_clean_night() -> None:
    summary = night(ok=8, retryable=2)
    assert exit_code_of(summary) == 1
    settled = with_verdicts(summary, [("retryable", "matches"), ("retryable", "matches")])
    assert settled["outcomes"]["ok"] == 10 and exit_code_of(settled) == 0


def test_differs_counts_like_retryable_even_for_a_sampled_ok() -> None:
    summary = night(ok=10)
    moved = with_verdicts(summary, [("ok", "differs")])
    assert moved["outcomes"] == {**summary["outcomes"], "ok": 9, "retryable": 1}
    assert exit_code_of(moved) == 1


@pytest.mark.parametrize("verdict", ["unverifiable", "failed", "superseded"])
def test_other_verdicts_change_nothing(verdict: str) -> None:
    summary = night(ok=9, retryable=1)
    assert with_verdicts(summary, [("retryable", verdict)]) == summary


def test_a_definite_failure_that_matches_is_settled_within_the_allowance() -> None:
    summary = night(ok=8, retryable=1, rejected=1)
    settled = with_verdicts(summary, [("retryable", "matches")])
    assert exit_code_of(settled) == 1
    assert exit_code_of(settled, "1") == 0


def test_verify_exit_code() -> None:
    assert verify_exit_code({"matches": 3}, 3, True) == 0
    assert verify_exit_code({"matches": 2, "unverifiable": 1}, 3, True) == 1
    assert verify_exit_code({"matches": 2}, 3, False) == 1
    assert verify_exit_code({}, 0, True) == 0


def test_verify_inside_a_running_loop_raises_before_creating_anything(tmp_path: Path) -> None:
    run_dir = tmp_path / "nothing-here"

    async def inside() -> None:
        bulkupdate.verify(run_dir)

    with pytest.raises(bulkupdate.UsageError, match="averify"):
        asyncio.run(inside())
    assert not run_dir.exists()


def test_the_library_exports_verify() -> None:
    assert {"averify", "verify", "VerifySummary"} <= set(bulkupdate.__all__)
