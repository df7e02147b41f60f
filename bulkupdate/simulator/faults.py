"""Fault dials and the meters behind them. Pure: time comes in as an argument.

* :class:`FaultPlan` — the probabilities as a frozen value plus one seeded
  ``random.Random``. Each request takes exactly one uniform draw and the dials
  are consecutive bands of ``[0, 1)`` in request order (429, 461, 521, 500, 502,
  503, 504, drop, lost, truncate, slow). So each dial fires with exactly its own
  probability, and the number of faults over N requests depends only on the seed
  and N, not on how concurrent requests interleave.
* :class:`SlidingWindow` — the rate limit: a log of accepted request times.
* :func:`max_window` — the most arrivals inside any window of a given length.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from .config import FAULT_DIALS, SimConfig

ERROR_BODIES = {
    401: "Unauthorized",
    429: "Too many requests",
    461: "Server busy, retry later",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
    521: "Another action is in progress for this customer",
}


def token_hiccup(request: int, failures: int) -> bool:
    """Whether the ``request``-th token request (1-based) answers 503: of every
    ``failures + 1`` in a row, all but the last — so every token, renewals
    included, comes only after ``failures`` retries."""
    return failures > 0 and request % (failures + 1) != 0


@dataclass(frozen=True)
class FaultPlan:
    """Band edges for one draw per request; ``None`` answers when nothing is on."""

    edges: tuple[tuple[float, str], ...]
    latency_s: float
    jitter_s: float

    @classmethod
    def from_config(cls, config: SimConfig) -> FaultPlan:
        edges = []
        upper = 0.0
        for name in FAULT_DIALS:
            p = getattr(config, name)
            if p > 0:
                upper += p
                edges.append((upper, name))
        return cls(tuple(edges), config.latency_ms / 1000.0, config.jitter_ms / 1000.0)


class FaultDecider:
    """The seeded decisions, in the order requests reach them."""

    def __init__(self, plan: FaultPlan, seed: int) -> None:
        self.plan = plan
        self._rng = random.Random(seed)

    def pick(self) -> str | None:
        """The dial that fires for this request (e.g. ``"p_503"``), or None."""
        edges = self.plan.edges
        if not edges:
            return None
        u = self._rng.random()
        for upper, name in edges:
            if u < upper:
                return name
        return None

    def uniform(self) -> float:
        """One more draw from the same sequence (per-item dials)."""
        return self._rng.random()

    def delay(self) -> float:
        """Seconds of latency for this answer, jitter included, never negative."""
        plan = self.plan
        if not plan.jitter_s:
            return plan.latency_s
        return max(0.0, plan.latency_s + self._rng.uniform(-plan.jitter_s, plan.jitter_s))


class SlidingWindow:
    """At most ``limit`` accepted requests in any ``period`` seconds.

    A log rather than a token bucket: it is exactly the rule the contract states
    for the client (any sliding window), so a correct client never sees a 429.
    """

    def __init__(self, limit: float, period: float) -> None:
        # A fractional limit can only be met by whole requests: round down, keep >= 1.
        self.limit = max(1, int(limit))
        self.period = period
        self._times: deque[float] = deque()

    def admit(self, now: float) -> float:
        """0.0 when admitted (and logged); otherwise seconds until a slot frees."""
        times = self._times
        horizon = now - self.period
        while times and times[0] <= horizon:
            times.popleft()
        if len(times) < self.limit:
            times.append(now)
            return 0.0
        return times[0] + self.period - now

    def clear(self) -> None:
        self._times.clear()


def retry_after_header(wait: float) -> str:
    """Whole seconds, rounded up, at least 1 (a 0 would invite an instant retry)."""
    return str(max(1, math.ceil(wait - 1e-9)))


def max_window(times: Iterable[float], window: float) -> int:
    """The largest number of ``times`` (ascending) inside any half-open window
    ``[t, t + window)`` — two pointers, O(n)."""
    ordered = list(times)
    best = 0
    lo = 0
    for hi, t in enumerate(ordered):
        while ordered[lo] <= t - window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best
