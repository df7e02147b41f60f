"""The pace of requests. Three limits compose, all awaited before a request leaves:

* the contract, ``--rate``: at most ``rate`` requests in any sliding window of
  one period, retries included. A log of the last send times enforces it over
  the period plus a margin for send jitter (20 ms, or half a slot when slots are
  shorter: 5 ms at 100/s) — for rates up to ``LOG_MAX`` per period; above that,
  over proportionally shorter windows;
* smoothness: an aiolimiter bucket leaking one request per ``period / rate``
  seconds, with room for ``SLACK`` requests. The slack lets a sender that woke
  late (the loop was busy mapping a response) catch up instead of losing that
  slot for good — a bucket of one leaks late wake-ups into lost throughput —
  while never allowing more than ``SLACK`` back to back, not a period's worth;
* the adaptive share of it: after a 429 the pace drops to 70% (at most once per
  round trip: 429s for requests sent before the last cut are echoes of the old
  pace), then climbs back by 5% of the cap per second of clean answers — slowly,
  so it hovers under a server limit instead of hitting it every few seconds. It is
  a fraction of the cap, so it can never exceed ``--rate``. The ``Retry-After`` of
  the 429 that caused a cut pauses every sender; an echo's does not.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque

from aiolimiter import AsyncLimiter

from .settings import Rate

MIN_SHARE = 1 / 64
DECREASE = 0.7
CLIMB_PER_S = 0.05
SLACK = 3
LOG_MAX = 10_000
JITTER_MARGIN = 0.02     # at most; half a slot when slots are shorter


class Throttle:
    def __init__(self, rate: Rate, *, climb_per_s: float = CLIMB_PER_S) -> None:
        self.rate = rate
        slack = max(1, min(SLACK, int(rate.count)))
        self._smooth = AsyncLimiter(slack, slack * rate.interval)
        size = max(1, min(LOG_MAX, math.floor(rate.count)))
        # A request leaves a little after its slot is granted (the task must start,
        # the body be written); the margin keeps that jitter from squeezing one
        # more request into a window as the server measures it.
        margin = min(JITTER_MARGIN, rate.interval / 2)
        self._window = (rate.period + margin) * size / rate.count
        self._sent: deque[float] = deque(maxlen=size)
        self._lock = asyncio.Lock()
        self.share = 1.0
        self._climb = climb_per_s
        self._last_climb = 0.0
        self._next_slot = 0.0
        self._paused_until = 0.0
        self._last_cut = 0.0

    async def acquire(self) -> float:
        """Wait for a slot; returns the monotonic time the request may leave."""
        # One caller at a time: the dispatcher and a bisecting request may both ask,
        # and the send log must see each send before the next is decided.
        async with self._lock:
            now = time.monotonic()
            start = max(self._paused_until, self._next_slot)
            if start > now:
                await asyncio.sleep(start - now)
            await self._smooth.acquire()
            sent = self._sent
            if len(sent) == sent.maxlen:
                wait = sent[0] + self._window - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
            now = time.monotonic()
            sent.append(now)
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
