"""source and inputfile: damaged inputs found before anything is sent; bounded lines."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pytest

from bulkupdate.errors import UsageError
from bulkupdate.source.files import MAX_LINE
from bulkupdate.source.lines import iter_lines, scan_input
from bulkupdate.source.validate import Invalid, validate_line

BODY = b"".join(b'{"n": %d}\n' % i for i in range(5000))


def test_scan_gives_fingerprint_and_physical_lines(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(BODY + b"\n  \nlast")
    fp, lines = scan_input(path)
    assert fp == {"size": path.stat().st_size,
                  "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    assert lines == 5003


def test_gzip_members_and_zero_padding_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl.gz"
    path.write_bytes(gzip.compress(BODY) + gzip.compress(b'{"n": -1}\n') + b"\x00" * 100)
    assert scan_input(path)[1] == 5001
    assert sum(1 for _ in iter_lines(path)) == 5001


@pytest.mark.parametrize("damage", [
    lambda d: d[:len(d) * 7 // 10],                  # truncated at 70%
    lambda d: d[:-4],                                # length trailer missing
    lambda d: d[:3] + b"\xff" + d[4:],               # corrupt header flags
    lambda d: d[:200] + bytes(50) + d[250:],         # corrupt data
    lambda d: d[:-8] + b"\x00\x00\x00\x00" + d[-4:],  # CRC wrong
    lambda d: d + b"trailing garbage",
    lambda d: d[:2],
])
def test_damaged_gzip_is_refused_in_the_scan(tmp_path: Path, damage: object) -> None:
    path = tmp_path / "in.jsonl.gz"
    path.write_bytes(damage(gzip.compress(BODY)))  # type: ignore[operator]
    with pytest.raises(UsageError, match="damaged gzip"):
        scan_input(path)


def test_a_line_too_long_is_one_invalid_record_and_the_next_line_is_read(
        tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\xef\xbb\xbf{}\r\n" + b"x" * (3 * MAX_LINE) + b"\n" +
                     b"y" * MAX_LINE + b"\n{}\n")
    got = list(iter_lines(path))
    assert [n for n, _ in got] == [1, 2, 3, 4]
    assert got[0][1] == b"{}"                          # BOM and CR gone
    too_long = validate_line(2, got[1][1], now=None)  # type: ignore[arg-type]
    assert isinstance(too_long, Invalid) and too_long.field == "line"
    assert len(got[2][1]) == MAX_LINE                  # exactly the limit is still read
