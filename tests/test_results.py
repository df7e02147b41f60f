"""results: the typed values built from ledger lines and summary.json."""

from __future__ import annotations

import dataclasses

import orjson
import pytest

from bulkupdate.capillary.outcomes import Outcome
from bulkupdate.results import ProgramResult, RecordResult, Summary

LINE = {"line": 17, "ref": "row-17", "outcome": "partial", "customer": {"mobile": "9197"},
        "customerId": 382741349, "attempts": 2, "uncertain": True, "programs": [
            {"partnerProgramName": "P1", "updateType": "UPGRADE", "ok": True, "code": 200,
             "message": "Success"},
            {"partnerProgramName": "P2", "updateType": "RENEW", "ok": False, "code": 2004,
             "message": "not linked"}]}


def test_a_result_line_becomes_a_record_result_and_back() -> None:
    result = RecordResult.from_line(LINE)
    assert result.outcome is Outcome.PARTIAL and result.uncertain and result.customer_id
    assert result.programs[1] == ProgramResult("P2", "RENEW", False, 2004, "not linked")
    assert result.to_dict() == LINE and orjson.loads(result.to_json()) == LINE
    with pytest.raises(dataclasses.FrozenInstanceError):   # shared between results
        result.programs[0].ok = False  # type: ignore[misc]


def test_an_invalid_line_keeps_its_field_and_error() -> None:
    result = RecordResult.from_line({"line": 3, "ref": None, "outcome": "invalid",
                                     "field": "customer.id", "error": "must be positive",
                                     "attempts": 0})
    assert (result.field, result.error, result.programs) == ("customer.id",
                                                             "must be positive", ())


def test_summary_takes_unknown_keys_and_keeps_dict_access() -> None:
    data = {"run_id": "r", "input": "in.jsonl", "input_records": 2, "results": 2,
            "complete": True, "outcomes": {"ok": 1, "invalid": 1}, "codes": {"200": 1},
            "added_by_a_newer_version": 5}
    summary = Summary.from_dict(data)
    assert summary.count(Outcome.OK) == 1 and summary.count("retryable") == 0
    assert summary["outcomes"]["invalid"] == 1 and summary["added_by_a_newer_version"] == 5


def test_one_summary_type_serialised_from_itself() -> None:
    """summary.json is Summary.to_dict(); what it writes reads back equal, and an
    older version's keys still read."""
    built = Summary("r1", "in.jsonl", 3, 3, True, {"ok": 2, "rejected": 1}, {"200": 2},
                    throttled_answers=4, transient_answers=5, results_per_s=1.5, exit_code=1)
    data = built.to_dict()
    assert list(data)[:7] == ["run_id", "input", "input_records", "results", "complete",
                              "outcomes", "codes"] and "raw" not in data
    assert Summary.from_dict(data) == built and built["exit_code"] == 1
    old = {k: v for k, v in data.items()
           if k not in ("throttled_answers", "transient_answers", "results_per_s")}
    old.update(throttled=4, transient_failures=5, customers_per_s=1.5)
    assert Summary.from_dict(old) == built
