"""The retry policy as a value: how many attempts, how long a record may wait in
total, the jittered backoff between tries, and how long an attempt of unknown
fate takes to settle. Pure; the random source is injected, so a test can pin
every delay.

Full jitter (a uniform wait between 0 and a ceiling that doubles per attempt, up
to ``cap``) spreads the retries of a batch that failed together; a
``Retry-After`` from the server is a floor, honoured up to ``cap`` — and one
longer than what a record has left of its budget is no reason to wait at all.

Everything that retries follows it: the engine's batches
(:mod:`bulkupdate.engine.decide`), the token requests of
:mod:`bulkupdate.capillary.auth` and verify's reads (both through
:meth:`RetryPolicy.next_wait`). Top level, not in :mod:`bulkupdate.engine`:
capillary sits below the engine.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal, Protocol

GiveUp = Literal["attempts", "budget", "retry_after"]


class Tuning(Protocol):
    """What the policy reads of the settings, named here rather than imported: the
    ground floor sits below ``bulkupdate.settings``."""

    @property
    def max_attempts(self) -> int: ...
    @property
    def retry_budget(self) -> float: ...
    @property
    def backoff_base(self) -> float: ...
    @property
    def backoff_cap(self) -> float: ...
    @property
    def effective_settle(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Wait:
    """What to do after a failed try: wait ``delay`` seconds, or stop (``gave_up``)."""
    delay: float
    paced: float | None         # the server's Retry-After as honoured: at most ``cap``
    gave_up: GiveUp | None


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    budget: float = 600.0      # seconds of backoff one record may spend in total
    base: float = 0.5          # the first retry waits up to this
    cap: float = 30.0          # no single wait longer than this
    # After an answer of unknown fate, nothing of those customers leaves before this
    # many seconds since the attempt was sent: the API may still apply it.
    settle: float = 60.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Tuning, rng: random.Random | None = None) -> RetryPolicy:
        return cls(settings.max_attempts, settings.retry_budget, settings.backoff_base,
                   settings.backoff_cap, settings.effective_settle, rng or random.Random())

    def backoff(self, attempts: int, retry_after: float | None = None) -> float:
        """Seconds to wait before try ``attempts + 1``."""
        ceiling = min(self.cap, self.base * 2 ** max(0, attempts - 1))
        return max(self.rng.uniform(0, ceiling), retry_after or 0.0)

    def paced(self, retry_after: float | None) -> float | None:
        """A ``Retry-After`` as a wait: at most ``cap`` (``999999999`` is not a plan)."""
        return min(retry_after, self.cap) if retry_after else None

    def next_wait(self, attempts: int, waited: float,
                  retry_after: float | None = None) -> Wait:
        """After try ``attempts`` failed, ``waited`` seconds spent in backoff so far,
        the server asking for ``retry_after``: the wait, or why to stop."""
        paced = self.paced(retry_after)
        delay = self.backoff(attempts, paced)
        return Wait(delay, paced, self.give_up(attempts, waited, delay, retry_after))

    def give_up(self, attempts: int, waited: float, delay: float,
                retry_after: float | None = None) -> GiveUp | None:
        """None to retry after ``delay``; else why the record is final now."""
        if retry_after is not None and retry_after > self.budget - waited:
            return "retry_after"
        if attempts >= self.max_attempts:
            return "attempts"
        if waited + delay > self.budget:
            return "budget"
        return None
