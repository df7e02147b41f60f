"""source/sniff.py: another command's input, or a file not in UTF-8, refused
before anything is sent; one stray byte stays one invalid line."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from bulkupdate.errors import UsageError
from bulkupdate.source.sniff import (
    foreign,
    not_utf8,
    other_command,
    reads_as_text,
    sniff_input,
)

UPDATE = {"customer": {"id": 1}, "partnerProgramUpdates": [
    {"partnerProgramName": "P", "updateType": "RENEW", "updateDetails": {"updatedTierName": "G"}}]}
LINK = {"customer": {"id": 1}, "linkToPartnerPrograms": [
    {"partnerProgramName": "P", "customerPartnerReference": {"partnerTierName": "G"}}]}


def test_link_items_are_the_link_commands_and_updates_runs() -> None:
    assert other_command([LINK, LINK], "update") == "link"
    assert other_command([UPDATE], "link") == "run"
    assert other_command([UPDATE, LINK], "update") is None     # one of ours: a mixed file
    assert other_command([LINK, {"customer": {}}], "update") is None
    assert other_command([LINK, "text"], "update") is None
    assert other_command([UPDATE], "update") is None


def test_utf16_and_latin1_lines_are_not_utf8() -> None:
    assert not_utf8([b"plain", "caf\u00e9".encode(), "caf\u00e9".encode("cp1252"),
                     "x".encode("utf-16-le")]) == ["caf\u00e9".encode("cp1252"),
                                                   "x".encode("utf-16-le")]


def write(path: Path, records: list[object]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def test_a_link_file_given_to_run_names_the_right_command(tmp_path: Path) -> None:
    src = write(tmp_path / "links.jsonl", [LINK] * 30)
    with pytest.raises(UsageError, match=r"did you mean `bulkupdate link .*links.jsonl`"):
        sniff_input(src, str(src), "update")
    sniff_input(src, str(src), "link")
    src = write(tmp_path / "one.jsonl", [UPDATE])
    with pytest.raises(UsageError, match="its first record is input for `bulkupdate run`"):
        sniff_input(src, str(src), "link")


def test_a_windows_1252_file_is_refused_naming_it_and_what_to_do(tmp_path: Path) -> None:
    src = tmp_path / "excel.csv"
    rows = ["id;partnerProgramName;updateType;updatedTierName"] + \
        [f"{100 + i};Caf\u00e9 \u201cPlus\u201d;RENEW;Gold" for i in range(50)]
    src.write_bytes("\r\n".join(rows).encode("cp1252"))
    with pytest.raises(UsageError, match=r"50 of its first 51 lines are not UTF-8 \(the file "
                                         r"looks like Windows-1252\).*--encoding WINDOWS-1252"
                                         r".*save it as UTF-8"):
        sniff_input(src, "excel.csv", "update")


def test_one_stray_byte_among_many_lines_is_left_to_validation(tmp_path: Path) -> None:
    src = tmp_path / "big.jsonl"
    lines = [orjson.dumps(UPDATE)] * 999 + [b'{"customer":{"email":"caf\xe9"}}']
    src.write_bytes(b"\n".join(lines) + b"\n")
    sniff_input(src, str(src), "update")      # 1 in 1,000
    for n in range(0, 1000, 9):
        lines[n] = lines[-1]
    src.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(UsageError, match="112 of its first 1000 lines are not UTF-8"):
        sniff_input(src, str(src), "update")  # more than 10 % of a JSONL file


def test_a_csv_that_is_utf8_elsewhere_keeps_its_stray_byte_as_one_invalid_line() -> None:
    latin, accented = "caf\u00e9".encode("cp1252"), "caf\u00e9".encode()
    assert foreign([b"id", latin, b"1"], csv=True) == [latin]
    assert foreign([b"id", latin, accented], csv=True) == []
    assert foreign([b"id", latin] + [b"1"] * 8, csv=False) == []
    # A stray byte, not a letter in a word: left to validation, one invalid line.
    assert foreign([b"id", b"100002,SPP_\xff1,RENEW", b"1"], csv=True) == []


def test_windows_1252_text_is_told_from_a_stray_byte() -> None:
    assert reads_as_text("Caf\u00e9 \u201cPlus\u201d \u2013 M\u00fcller".encode("cp1252"))
    assert not reads_as_text(b"SPP_\xff1")
    assert not reads_as_text(b"x\x81y")          # no character in Windows-1252
