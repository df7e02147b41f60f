"""``results.jsonl``: each line's final result appended once (the first answer
stands), and the counts they add up to, kept as they are written."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, BinaryIO

from ..capillary.result import RecordResult
from .check import check_result, parse_json
from .errorfile import TO_FIX, Reasons
from .files import append_whole, open_append, read_lines, repair_tail
from .lineset import LineSet

NOT_SENT = frozenset({"retryable", "invalid", "unchanged"})   # no API codes to count


class ResultsFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.file: BinaryIO | None = None
        self.done = LineSet()
        self.duplicates = 0
        self.outcomes: Counter[str] = Counter()
        self.codes: Counter[Any] = Counter()
        self.uncertain = 0
        self.retry = LineSet()                  # lines whose outcome is retryable
        self.to_fix = Reasons()                 # lines for the error files, with why

    def load(self, input_lines: int) -> None:
        """Re-read what an earlier session wrote (a torn last line cut first),
        each line checked: a line number within the input's ``input_lines``."""
        repair_tail(self.path)
        for where, raw in read_lines(self.path):
            result = check_result(parse_json(raw, where), where, input_lines)
            if self.done.add(result["line"]):
                self._count(result)
                if result["outcome"] in TO_FIX:
                    self.to_fix.add(RecordResult.from_line(result))
            else:
                self.duplicates += 1

    def tally(self, result: dict[str, Any]) -> None:
        """Count a result read back by someone else (``report``): once per line."""
        if self.done.add(result["line"]):
            self._count(result)

    def open(self) -> None:
        self.file = open_append(self.path)

    def _count(self, result: dict[str, Any]) -> None:
        # The summary's figures, kept as results are written (or re-read on
        # resume), so finishing a run of millions costs no second pass.
        outcome = result["outcome"]
        sent = outcome not in NOT_SENT
        self._add(outcome, result["line"], bool(result.get("uncertain")),
                  result.get("code") if outcome == "rejected" else None,
                  [p["code"] for p in result["programs"]] if sent else ())

    def _count_result(self, result: RecordResult) -> None:
        """:meth:`_count` for a result as the run builds it (no line parsed back)."""
        outcome = result.outcome._value_
        sent = outcome not in NOT_SENT
        self._add(outcome, result.line, result.uncertain,
                  result.code if outcome == "rejected" else None,
                  [p.code for p in result.programs] if sent else ())

    def _add(self, outcome: str, line: int, uncertain: bool, customer_code: Any,
             program_codes: list[Any] | tuple[()]) -> None:
        self.outcomes[outcome] += 1
        if uncertain:
            self.uncertain += 1
        if outcome == "retryable":
            self.retry.add(line)
            return
        codes = self.codes
        # A customer-level code (8015: not found) is repeated on each of the
        # record's programs: it counts once per customer, not per program.
        if customer_code is not None:
            codes[customer_code] += 1
        for code in program_codes:
            if code is not None and code != customer_code:
                codes[code] += 1

    def write(self, results: list[RecordResult],
              written: list[RecordResult] | None = None) -> int:
        """Appends results whose line has none yet; returns how many were written
        (and appends them to ``written`` when given, in ledger order)."""
        assert self.file is not None
        count, data = self.encode(results, written)
        if data:
            append_whole(self.file, data)
        return count

    def encode(self, results: list[RecordResult],
               written: list[RecordResult] | None = None) -> tuple[int, bytes]:
        """(how many, their lines) for the results whose line has none yet, each
        counted as reported: the caller appends the bytes, now or (disk full) later."""
        out = []
        for result in results:
            if self.done.add(result.line):
                self._count_result(result)
                self.to_fix.add(result)   # kept when it is one to fix
                out.append(result.to_json())
                if written is not None:
                    written.append(result)
            else:
                self.duplicates += 1   # never reported twice: the first answer stands
        if not out:
            return 0, b""
        out.append(b"")
        return len(out) - 1, b"\n".join(out)

    def encode_copied(self, lines: list[tuple[int, bytes]]) -> tuple[int, bytes]:
        """:meth:`encode` for ``unchanged`` lines the plan wrote ready-made: copied as
        they are, counted without parsing them (a night of a million skips)."""
        out = []
        for line, raw in lines:
            if self.done.add(line):
                self._add("unchanged", line, False, None, ())
                out.append(raw.rstrip(b"\n"))
            else:
                self.duplicates += 1
        if not out:
            return 0, b""
        out.append(b"")
        return len(out) - 1, b"\n".join(out)
