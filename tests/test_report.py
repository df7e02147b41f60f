"""report: what happened, from the run directory alone, as a table, CSV or JSON."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from bulkupdate.errors import LedgerError
from bulkupdate.report import render
from bulkupdate.results import RecordResult
from bulkupdate.rundir import Ledger

RESULTS = [
    {"line": 1, "ref": "a", "outcome": "ok", "customer": {"mobile": "9197"}, "customerId": 5,
     "attempts": 1, "programs": [{"partnerProgramName": "P", "updateType": "RENEW", "ok": True,
                                  "code": 200, "message": "Success"}]},
    {"line": 2, "ref": None, "outcome": "invalid", "field": "customer.id",
     "error": "must be a positive integer", "attempts": 0},
    {"line": 3, "ref": None, "outcome": "rejected", "customer": {"id": 9}, "attempts": 2,
     "uncertain": True, "code": 8015, "message": "Customer not found", "programs": [
         {"partnerProgramName": "P", "updateType": "RENEW", "ok": False, "code": 8015,
          "message": "Customer not found"}]},
]


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"{}\n{}\n{}\n")
    ledger = Ledger.create(tmp_path / "run", source, {"rate": "1/s"})
    ledger.open()
    ledger.write_results([RecordResult.from_line(r) for r in RESULTS])
    ledger.close()
    ledger.save(replace(ledger.finalize(3), exit_code=1))
    ledger.release()
    return tmp_path / "run"


def test_the_table_names_counts_codes_and_fields(run_dir: Path) -> None:
    table = render(run_dir)
    assert "3 of 3 reported (complete)" in table and "exit code  1" in table
    assert "8015" in table and "customer not found" in table
    assert "customer.id" in table and "uncertain: 1" in table


def test_csv_has_one_row_per_result(run_dir: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(render(run_dir, "csv"))))
    assert [r["outcome"] for r in rows] == ["ok", "invalid", "rejected"]
    assert rows[0]["customer"] == "mobile=9197" and rows[2]["uncertain"] == "true"
    assert rows[0]["uncertain"] == "false" and rows[0]["program"] == "P"
    assert rows[2]["code"] == "8015" and rows[1]["code"] == "" and rows[1]["program_ok"] == ""
    assert rows[1]["message"] == "must be a positive integer"


def test_json_is_the_summary(run_dir: Path) -> None:
    summary = orjson.loads(render(run_dir, "json"))
    assert summary["outcomes"]["invalid"] == 1 and summary["codes"] == {"200": 1, "8015": 1}


def test_an_unfinished_run_says_so(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"{}\n")
    ledger = Ledger.create(tmp_path / "run", source, {})
    assert "in progress: pid" in render(tmp_path / "run")    # its owner is at work
    ledger.release()
    assert "has not finished" in render(tmp_path / "run")
    with pytest.raises(LedgerError, match="not a run directory"):
        render(tmp_path)
