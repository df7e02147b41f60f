"""source/prepare.py: the copy a run reads, in UTF-8 and without ignored columns,
line for line."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest

from bulkupdate.errors import UsageError
from bulkupdate.source.lines import iter_lines
from bulkupdate.source.prepare import check_encoding, prepare_input, transcode


def test_a_windows_1252_csv_is_read_in_utf8_line_for_line(tmp_path: Path) -> None:
    src = tmp_path / "excel.csv"
    src.write_bytes("id;partnerProgramName;updateType;updatedTierName;Notes\r\n"
                    "101;Caf\u00e9;RENEW;\u201cGold\u201d;x\r\n\r\n"
                    "102;P;RENEW;Gold;y\r\n".encode("cp1252"))
    copy = prepare_input(src, tmp_path, encoding="WINDOWS-1252", ignore=("Notes",))
    assert copy.name == "input.csv"
    got = [(n, orjson.loads(raw)) for n, raw in iter_lines(copy)]
    assert [n for n, _ in got] == [2, 4]
    assert got[0][1]["partnerProgramUpdates"][0]["partnerProgramName"] == "Caf\u00e9"
    assert got[0][1]["partnerProgramUpdates"][0]["updateDetails"]["updatedTierName"] == \
        "\u201cGold\u201d"


def test_utf16_and_gzip_jsonl_become_plain_utf8(tmp_path: Path) -> None:
    line = '{"customer":{"email":"ren\u00e9@example.com"}}\n'
    src = tmp_path / "in.jsonl.gz"
    src.write_bytes(gzip.compress((line * 2).encode("utf-16")))
    copy = transcode(src, tmp_path / "input-utf8.jsonl", "utf-16")
    assert copy.read_text(encoding="utf-8") == line * 2


def test_a_byte_the_encoding_lacks_stays_as_it_was(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"a":"\x81"}\n')     # 0x81: no character in Windows-1252
    assert transcode(src, tmp_path / "out.jsonl", "cp1252").read_bytes() == b'{"a":"\x81"}\n'


def test_an_unknown_encoding_is_a_usage_error() -> None:
    assert check_encoding("WINDOWS-1252") == "WINDOWS-1252"
    with pytest.raises(UsageError, match="--encoding nope"):
        check_encoding("nope")
