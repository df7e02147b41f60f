"""cli/validating.py: validate's findings grouped (one line per message, with its
count and first lines) and a customer named twice warned of, naming both lines."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import orjson

from bulkupdate.base.words import plural
from bulkupdate.cli import validating
from bulkupdate.cli.validating import Findings
from bulkupdate.source.validate import Invalid, validate_line

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def line(n: int, customer: dict[str, object]) -> bytes:
    return orjson.dumps({"customer": customer, "partnerProgramUpdates": [
        {"partnerProgramName": "P", "updateType": "RENEW",
         "updateDetails": {"updatedTierName": "G"}}]})


def run(raws: list[bytes], quiet: bool = False) -> tuple[str, str]:
    findings, out, err = Findings(quiet=quiet), io.StringIO(), io.StringIO()
    for n, raw in enumerate(raws, 1):
        findings.add(validate_line(n, raw, NOW), out)
    findings.write(out, err)
    return out.getvalue(), err.getvalue()


def test_thirty_thousand_identical_messages_are_one_line() -> None:
    bad = b'{"customer":{"id":1},"linkToPartnerPrograms":[]}'
    out, _ = run([bad] * 30_000 + [b"{"])
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("line 1: linkToPartnerPrograms: unknown top-level key")
    assert lines[0].endswith("[30,000 lines alike: 1, 2, 3, …]")
    assert lines[1].startswith("line 30001: json: malformed JSON")


def test_a_message_seen_once_reads_as_before() -> None:
    out, _ = run([b"{"])
    assert out.startswith("line 1: json: malformed JSON") and "alike" not in out


def test_a_customer_twice_is_a_warning_naming_both_lines() -> None:
    out, err = run([line(1, {"id": 5}), line(2, {"mobile": "91974"}),
                    line(3, {"id": 6}), line(4, {"id": 5, "email": "a@b"}),
                    line(5, {"email": "A@B"})])
    assert out == ""
    assert "warning: line 4: the same customer as line 1" in err
    # Line 4 named the customer by email too: line 5 is that customer again.
    assert "warning: line 5: the same customer as line 4" in err
    assert "line 2" not in err and "line 3" not in err


def test_past_the_bound_repeats_are_not_looked_for_and_it_says_so(monkeypatch) -> None:
    monkeypatch.setattr(validating, "MAX_CUSTOMERS", 3)
    _, err = run([line(n, {"id": n}) for n in range(1, 6)] + [line(6, {"id": 1})])
    assert "warning: line 6: the same customer as line 1" in err
    assert "2 records past the first 3 customers were not checked for repeats" in err


def test_many_repeats_are_counted_after_the_first_ones() -> None:
    _, err = run([line(n, {"id": 1}) for n in range(1, 31)])
    assert err.count("warning: line") == validating.REPEATS_SHOWN
    assert "29 records in all name a customer named on an earlier line" in err


def test_plurals() -> None:
    assert plural(1, "customer") == "1 customer"
    assert plural(30000, "customer") == "30,000 customers"
    assert plural(0, "entry", "entries") == "0 entries"


def test_the_comma_form_of_scientific_notation_is_caught_like_the_dot_form() -> None:
    for mobile in ("9,19700E+11", "9.19700E+11"):
        got = validate_line(1, line(1, {"mobile": mobile}), NOW)
        assert isinstance(got, Invalid) and "scientific notation" in got.error
