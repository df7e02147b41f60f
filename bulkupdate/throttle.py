"""The pace of requests. Two limits compose, both awaited before a request leaves:

* the hard cap, ``--rate``: an aiolimiter bucket of capacity one that leaks one
  request per ``period / rate`` seconds, so at most ``rate`` requests fall in any
  sliding window of one period, retries included, with no burst at a window's start;
* the adaptive share of it: after a 429 the pace drops to 70% (at most once per
  round trip: 429s for requests sent before the last cut are echoes of the old
  pace), then climbs back by 5% of the cap per second of clean answers — slowly,
  so it hovers under a server limit instead of hitting it every few seconds. It is
  a fraction of the cap, so it can never exceed ``--rate``. The ``Retry-After`` of
  the 429 that caused a cut pauses every sender; an echo's does not.
"""

from __future__ import annotations

import asyncio
import time

from aiolimiter import AsyncLimiter

from .settings import Rate

MIN_SHARE = 1 / 64
DECREASE = 0.7
CLIMB_PER_S = 0.05


class Throttle:
    def __init__(self, rate: Rate, *, climb_per_s: float = CLIMB_PER_S) -> None:
        self.rate = rate
        self._cap = AsyncLimiter(1, rate.interval)
        self.share = 1.0
        self._climb = climb_per_s
        self._last_climb = 0.0
        self._next_slot = 0.0
        self._paused_until = 0.0
        self._last_cut = 0.0
        self.cuts = 0

    async def acquire(self) -> float:
        """Wait for a slot; returns the monotonic time the request may leave."""
        now = time.monotonic()
        start = max(self._paused_until, self._next_slot)
        if start > now:
            await asyncio.sleep(start - now)
        await self._cap.acquire()
        now = time.monotonic()
        if self.share < 1.0:
            self._next_slot = now + self.rate.interval / self.share
        return now

    def throttled(self, sent_at: float, retry_after: float | None) -> bool:
        """A 429 for a request sent at ``sent_at``. True when the pace was cut."""
        now = time.monotonic()
        if sent_at < self._last_cut:
            return False
        if retry_after:
            self._paused_until = max(self._paused_until, now + retry_after)
        self.share = max(MIN_SHARE, self.share * DECREASE)
        self._last_cut = self._last_climb = now
        self.cuts += 1
        return True

    def clean(self) -> None:
        """A definite answer: climb back in proportion to the time since the last step."""
        if self.share < 1.0:
            now = time.monotonic()
            self.share = min(1.0, self.share + self._climb * (now - self._last_climb))
            self._last_climb = now

    def pause(self, seconds: float) -> None:
        """Hold every sender back (a 503 or 461 with Retry-After)."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)
