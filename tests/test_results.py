"""results: the typed values built from ledger lines and summary.json."""

from __future__ import annotations

import dataclasses

import pytest

from bulkupdate.capillary.outcomes import Outcome
from bulkupdate.results import ProgramResult, RecordResult, Summary

LINE = {"line": 17, "ref": "row-17", "outcome": "partial", "customer": {"mobile": "9197"},
        "customerId": 382741349, "attempts": 2, "uncertain": True, "programs": [
            {"partnerProgramName": "P1", "updateType": "UPGRADE", "ok": True, "code": 200,
             "message": "Success"},
            {"partnerProgramName": "P2", "updateType": "RENEW", "ok": False, "code": 2004,
             "message": "not linked"}]}


def test_a_result_line_becomes_a_frozen_record_result() -> None:
    result = RecordResult.from_line(LINE)
    assert result.outcome is Outcome.PARTIAL and result.uncertain and result.customer_id
    assert result.programs[1] == ProgramResult("P2", "RENEW", False, 2004, "not linked")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.line = 1  # type: ignore[misc]


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
