"""The typed values a run hands back: one :class:`RecordResult` per final result
(to ``on_result``), and a :class:`RunResult` with its :class:`Summary` at the end.

They are read-only views of what the run directory holds (``results.jsonl``,
``summary.json``); the files stay the record of truth.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .capillary.outcomes import Outcome
from .capillary.result import ProgramResult, RecordResult
from .errors import BulkUpdateError

__all__ = ["OLD_KEYS", "Outcome", "ProgramResult", "RecordResult", "RunResult", "Summary"]


# Keys of summary.json as older versions wrote them: still read.
OLD_KEYS = {"throttled_answers": "throttled", "transient_answers": "transient_failures",
            "results_per_s": "customers_per_s"}


@dataclass(frozen=True)
class Summary:
    """``summary.json`` as a value: :mod:`bulkupdate.rundir.summary` builds it and
    writes the file from :meth:`to_dict`, whose keys are the fields, in this order.
    ``summary["outcomes"]`` still works for code written against the plain dict."""

    run_id: str
    input: str
    input_records: int | None
    results: int
    complete: bool
    outcomes: Mapping[str, int]       # keyed by Outcome value: "ok", "partial", ...
    codes: Mapping[str, int]          # API code → count
    uncertain: int = 0
    sessions: int = 0
    sessions_killed: int = 0
    requests: int = 0                 # requests sent, all sessions (a killed one's too)
    throttled_answers: int = 0        # 429 answers
    learned_rate: str | None = None   # what the server admitted, when its 429s showed a limit
    transient_answers: int = 0        # answers that decided nothing (429, 5xx, timeouts ...)
    duration_s: float = 0.0           # the sessions' time (a killed one's from its journal)
    results_per_s: float | None = None
    started_at: str | None = None
    ended_at: str | None = None
    exit_code: int | None = None      # set when the session has closed
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Summary:
        """A summary as read back (an older version's keys too)."""
        known = {f.name for f in fields(cls)} - {"raw"}
        values = {new: data[old] for new, old in OLD_KEYS.items() if old in data}
        values.update((k, v) for k, v in data.items() if k in known)
        return cls(**values, raw=dict(data))

    def to_dict(self) -> dict[str, Any]:
        """``summary.json``'s content: one key per field, in the fields' order."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "raw"}
        out["outcomes"], out["codes"] = dict(self.outcomes), dict(self.codes)
        return out

    # The names of older versions.
    @property
    def throttled(self) -> int:
        return self.throttled_answers

    @property
    def transient_failures(self) -> int:
        return self.transient_answers

    @property
    def customers_per_s(self) -> float | None:
        return self.results_per_s

    def count(self, outcome: Outcome | str) -> int:
        return self.outcomes.get(str(outcome), 0)

    def __getitem__(self, key: str) -> Any:
        """As the dict: what was read back (unknown keys too), else the field."""
        if key in self.raw:
            return self.raw[key]
        return self.to_dict()[key]

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default


@dataclass(frozen=True)
class RunResult:
    """How a run or resume ended: the exit code the CLI would use (0, 1, 3, 130),
    its run directory, the summary, and the exception that aborted it, if any."""

    exit_code: int
    run_dir: Path
    summary: Summary
    abort: BulkUpdateError | None = None
    nothing_to_do: bool = False      # a resume of a run that had finished already

    @property
    def reason(self) -> str:
        return str(self.abort) if self.abort is not None else ""
