"""source: files → (physical line number, bytes), streaming; fingerprints; stdin."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from bulkupdate.errors import UsageError
from bulkupdate.source import count_records, fingerprint, iter_lines, spool_stdin


def test_blank_lines_count_but_are_not_records(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"a":1}\n\n  \n{"b":2}\r\n{"c":3}')
    assert list(iter_lines(path)) == [(1, b'{"a":1}'), (4, b'{"b":2}'), (5, b'{"c":3}')]
    assert count_records(path) == 3


def test_gzip_is_read_by_its_content_not_its_name(tmp_path: Path) -> None:
    path = tmp_path / "in.data"
    path.write_bytes(gzip.compress(b'{"a":1}\n\n{"b":2}\n'))
    assert list(iter_lines(path)) == [(1, b'{"a":1}'), (3, b'{"b":2}')]
    assert count_records(path) is None   # counting would cost a decompression pass


def test_a_truncated_gzip_is_a_usage_error_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"a":1}\n' * 5000)[:-20])
    with pytest.raises(UsageError, match="cannot read past line"):
        list(iter_lines(path))


def test_csv_rows_of_one_customer_form_one_record(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("mobile,partnerProgramName,updateType,updatedTierName\n"
                    "9197,P1,UPGRADE,Gold\n9197,P2,RENEW,Plus\n9198,P1,RENEW,Plus\n")
    lines = list(iter_lines(path))
    assert [n for n, _ in lines] == [2, 4]
    assert b'"P2"' in lines[0][1] and b'"9198"' in lines[1][1]


def test_a_missing_input_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        list(iter_lines(tmp_path / "nope.jsonl"))


def test_the_fingerprint_changes_with_a_byte(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"a":1}\n')
    first = fingerprint(path)
    path.write_bytes(b'{"a":2}\n')
    assert fingerprint(path) != first and first["size"] == 8


def test_stdin_is_saved_byte_for_byte(tmp_path: Path) -> None:
    data = b'{"a":1}\n\n{"b":2}\n'
    target = spool_stdin(tmp_path / "input.jsonl", io.BytesIO(data))
    assert target.read_bytes() == data
