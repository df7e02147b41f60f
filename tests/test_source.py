"""source: files → (physical line number, bytes), streaming; fingerprints; stdin."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from bulkupdate.errors import UsageError
from bulkupdate.source.lines import (
    count_records,
    fingerprint,
    iter_lines,
    scan_input,
    spool_stdin,
    starts_with_array,
)


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


CSV_ROWS = [("mobile", "partnerProgramName", "updateType", "updatedTierName"),
            ("919740000001", "P1", "UPGRADE", "Gold"), ("919740000002", "P1", "UPGRADE", "Plus")]


@pytest.mark.parametrize("sep", [";", "\t", ","])
def test_a_csv_is_read_with_the_delimiter_its_header_uses(tmp_path: Path, sep: str) -> None:
    path = tmp_path / "in.csv"
    path.write_text("".join(sep.join(row) + "\r\n" for row in CSV_ROWS))
    scan_input(path)
    lines = list(iter_lines(path))
    assert [n for n, _ in lines] == [2, 3]
    assert b'"919740000002"' in lines[1][1] and b'"Plus"' in lines[1][1]


def test_a_csv_with_another_delimiter_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("".join("|".join(row) + "\n" for row in CSV_ROWS))
    with pytest.raises(UsageError, match=r"delimited by '\|'"):
        scan_input(path)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("text", ['[{"customer": {"id": 1}}, {"customer": {"id": 2}}]\n',
                                  '\ufeff\n\n  [\n  {"customer": {"id": 1}}\n]\n'])
def test_one_json_array_is_refused_whole_with_the_fix(tmp_path: Path, gz: bool, text: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = Path("export.json")
    data = text.encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(UsageError, match=r"export.json is one JSON array; bulkupdate reads one "
                                         r"object per line \(jq -c '.\[\]' export.json > "
                                         r"export.jsonl\)"):
        scan_input(path)
    assert starts_with_array(path)


def test_a_damaged_gzip_is_not_mistaken_for_an_array(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"a":1}\n' * 50_000)[:200])
    assert not starts_with_array(path)


def test_an_extra_csv_column_is_refused_unless_named_to_ignore(tmp_path: Path) -> None:
    from bulkupdate.source.csvfile import iter_csv_records, write_without

    src = tmp_path / "with-notes.csv"
    src.write_bytes(b'id;partnerProgramName;updateType;updatedTierName;Notes\n'
                    b'101;P;RENEW;Gold;"vip; call\nfirst"\n'
                    b'102;P;RENEW;Gold;caf\xe9\n')
    with pytest.raises(UsageError, match="--ignore-column Notes"):
        list(iter_csv_records(src))
    with pytest.raises(UsageError, match="--ignore-column Nope: the header has no such"):
        list(iter_csv_records(src, ignore=("Nope",)))
    read = list(iter_csv_records(src, ignore=("Notes",)))
    assert [line for line, _ in read] == [3, 4]
    # The copy a run reads: line for line, the same delimiter, without the column.
    copy = write_without(src, tmp_path / "input.csv", ("Notes",))
    assert copy.read_bytes() == (b"id;partnerProgramName;updateType;updatedTierName\n"
                                 b"\n101;P;RENEW;Gold\n102;P;RENEW;Gold\n")
    assert list(iter_csv_records(copy)) == read


def test_another_commands_csv_names_that_command(tmp_path: Path) -> None:
    from bulkupdate.source.csvfile import check_csv_header

    src = tmp_path / "links.csv"
    src.write_text("mobile,partnerProgramName,partnerTierName\n919740000001,P,Gold\n")
    with pytest.raises(UsageError, match="did you mean `bulkupdate link"):
        check_csv_header(src, "update")
    check_csv_header(src, "link")
