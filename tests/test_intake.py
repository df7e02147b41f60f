"""intake: any source → the run's input file, one line per item, nothing left on failure."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from bulkupdate.errors import UsageError
from bulkupdate.source.spool import check_source, spool_items, to_line


def test_each_kind_of_item_becomes_one_line() -> None:
    assert to_line({"customer": {"id": 1}}) == b'{"customer":{"id":1}}'
    assert to_line(b'{"a": 1}\r\n') == b'{"a": 1}' and to_line('{"a": 1}\n') == b'{"a": 1}'
    assert to_line("   ") == b"   "   # blank: not a record, as in a file
    assert to_line([1, 2]) == b"[1,2]"   # the validator says it is not an object


def test_values_json_cannot_hold_become_strings_the_validator_can_name() -> None:
    line = orjson.loads(to_line({"customer": {"id": Decimal("7")}}))
    assert line == {"customer": {"id": "7"}}
    when = datetime(2031, 1, 1, tzinfo=UTC)
    assert b"2031-01-01T00:00:00+00:00" in to_line({"at": when})


def test_a_lone_surrogate_is_written_as_invalid_utf8_not_raised() -> None:
    raw = to_line('{"ref": "\udcff"}')
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")


@pytest.mark.parametrize("source", [b"x", {"customer": {}}, 3, None])
def test_what_is_not_a_source_is_refused(source: Any) -> None:
    with pytest.raises(UsageError, match="source"):
        check_source(source)


def test_paths_stdin_and_iterables_are_told_apart(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_bytes(b"{}\n")
    assert check_source(str(tmp_path / "in.jsonl")).kind == "file"
    assert check_source(tmp_path / "in.jsonl").path == tmp_path / "in.jsonl"
    assert check_source("-").kind == "stdin"
    assert check_source([]).kind == check_source(iter(())).kind == "iterable"
    with pytest.raises(UsageError, match="does not exist"):
        check_source(tmp_path / "missing.jsonl")


async def test_a_generator_is_spooled_in_order(tmp_path: Path) -> None:
    def records() -> Iterator[dict[str, int]]:
        yield from ({"n": i} for i in range(3000))

    target = await spool_items(records(), tmp_path / "input.jsonl")
    lines = target.read_bytes().splitlines()
    assert [orjson.loads(x)["n"] for x in lines] == list(range(3000))


async def test_an_async_generator_is_spooled_in_order(tmp_path: Path) -> None:
    async def lines() -> AsyncIterator[bytes]:
        for i in range(5):
            await asyncio.sleep(0)
            yield b'{"n": %d}' % i

    target = await spool_items(lines(), tmp_path / "input.jsonl")
    assert target.read_bytes() == b"".join(b'{"n": %d}\n' % i for i in range(5))


async def test_a_failing_source_leaves_no_input_behind(tmp_path: Path) -> None:
    def broken() -> Iterator[dict[str, int]]:
        yield {"n": 1}
        raise RuntimeError("cursor lost")

    with pytest.raises(RuntimeError, match="cursor lost"):
        await spool_items(broken(), tmp_path / "input.jsonl")
    assert list(tmp_path.iterdir()) == []  # noqa: ASYNC240 - a check, not work
