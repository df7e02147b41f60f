"""``sent.jsonl``: every request journaled before it leaves, and, after a crash,
which unfinished lines were sent and may have been applied — and when they were
last sent (``t``, wall-clock seconds), so that a resume holds them only for what
is left of ``settle``."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import BinaryIO

import orjson

from .check import check_sent, parse_json
from .files import append_whole, open_append, read_lines, repair_tail
from .lineset import LineSet


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.file: BinaryIO | None = None
        self._session = uuid.uuid4().hex[:8]
        self._requests = 0
        # One offset per session: send times stay exact monotonic differences,
        # readable as wall-clock seconds.
        self._wall_offset = time.time() - time.monotonic()
        # After unfinished(): when each line that may have been applied was last
        # sent (wall clock), for the settle a resume still owes it.
        self.last_sent: dict[int, float] = {}

    def open(self) -> None:
        self.file = open_append(self.path)

    def record_sent(self, lines: list[int], granted_at: float) -> str:
        """Journal a request before it leaves; returns its id. ``granted_at`` is
        the pacer's monotonic grant time."""
        assert self.file is not None
        req, line = self.sent_line(lines, granted_at)
        append_whole(self.file, line)
        return req

    def sent_line(self, lines: list[int], granted_at: float) -> tuple[str, bytes]:
        """(the request's id, its journal line), for the caller to append."""
        self._requests += 1
        req = f"{self._session}-{self._requests}"
        at = round(granted_at + self._wall_offset, 6)
        return req, orjson.dumps({"req": req, "t": at, "lines": lines}) + b"\n"

    def record_not_applied(self, req: str) -> None:
        """The server refused the request before processing it (429, 503, ...):
        after a crash, its records need no 'uncertain' flag on this account."""
        assert self.file is not None
        append_whole(self.file, self.not_applied_line(req))

    @staticmethod
    def not_applied_line(req: str) -> bytes:
        return orjson.dumps({"answered": req}) + b"\n"

    def unfinished(self, done: LineSet, input_lines: int) -> tuple[dict[int, int], set[int]]:
        """(attempts already sent per unfinished line, the unfinished lines whose
        request was never answered: those may have been applied)."""
        repair_tail(self.path)
        sent_before: dict[int, int] = {}
        # Requests that carried an unfinished line, minus those whose answer said
        # nothing was applied: what is left may have been applied.
        unanswered: dict[str, list[int]] = {}
        last_sent: dict[int, float] = {}
        for where, raw in read_lines(self.path):
            entry = check_sent(parse_json(raw, where), where, input_lines)
            if "answered" in entry:
                unanswered.pop(entry["answered"], None)
                continue
            open_lines = [n for n in entry["lines"] if n not in done]
            at = entry.get("t")
            for line in open_lines:
                sent_before[line] = sent_before.get(line, 0) + 1
                if isinstance(at, int | float) and not isinstance(at, bool):
                    last_sent[line] = float(at)
                else:   # no usable send time: the resume holds it a whole settle
                    last_sent.pop(line, None)
            if open_lines:
                unanswered[entry["req"]] = open_lines
        maybe = {n for lines in unanswered.values() for n in lines}
        self.last_sent = {n: last_sent[n] for n in maybe if n in last_sent}
        return sent_before, maybe
