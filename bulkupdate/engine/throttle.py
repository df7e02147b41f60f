"""The pace of requests. Three limits compose, all awaited before a request leaves:

* the contract, ``--rate``: at most ``rate`` requests in any sliding window of
  one period, retries included. A log of the last send times enforces it over
  the period plus a margin for send jitter (20 ms, or half a slot when slots are
  shorter: 5 ms at 100/s) — for rates up to ``LOG_MAX`` per period; above that,
  over proportionally shorter windows;
* whatever the unit, every second: at ``N/min`` (or ``/hour``) at most
  ``ceil(N/60)`` requests in any sliding second (plus the jitter margin), so a
  catch-up never bunches more into one second than a per-second server admits —
  Capillary's limits are per minute, but a gateway in front may count per second;
* smoothness: an aiolimiter bucket leaking one request per ``period / rate``
  seconds, with room for ``SLACK`` requests. The slack lets a sender that woke
  late (the loop was busy mapping a response) catch up instead of losing that
  slot for good — a bucket of one leaks late wake-ups into lost throughput —
  while never allowing more than ``SLACK`` back to back, not a period's worth;
* the server's own limit, when 429s show it is lower: :class:`LimitFinder`
  learns it from what the server admitted and holds the pace just under it
  (see there). It is never above ``--rate``: the two limits above still apply.

A 429 teaches a limit only when the client was *saturated* over the period
before the refused request: it offered (sent, refused requests included) at
least ``SATURATED`` of what the pace in force allowed over that period — the
period cut to the time since the session's first request, less the time every
sender was paused. A 429 at a lower offered load (the tail of a run, customers held
for settling, the first instants of a session) or a stray one (a shared
gateway's, whatever the pace) says nothing about the server's limit: it is a
hiccup, and the pace stays.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from aiolimiter import AsyncLimiter

from ..settings import Rate

SLACK = 3
LOG_MAX = 10_000
JITTER_MARGIN = 0.02     # at most; half a slot when slots are shorter
MIN_SHARE = 1 / 64       # the pace never falls below this share of --rate
HOLD = 0.97              # share of the learned limit held after a cut
HOLD_PERIODS = 2.0       # periods at that pace before probing upward
PROBE = 0.02             # probing climbs by this share of the learned limit per period,
                         # twice as fast for every period spent above it without a 429
CLEAN_STRETCH = 5.0      # periods at full pace without a 429: a lone 429 is a hiccup
FULL = 0.97              # ... as is one when the server admitted this share of --rate
HICCUP_PAUSE = 0.1       # seconds every sender waits after a hiccup (at least a slot)
ROOM_MARGIN = 0.05       # of a period: the server's clock stamps arrivals late when busy
SATURATED = 0.9          # offered load, as a share of the pace, that makes a period saturated
SIGNIFICANT = 0.25       # below the learned limit: share of a period's requests refused
                         # (at least three) that shows the limit fell


def jitter_margin(rate: Rate) -> float:
    return min(JITTER_MARGIN, rate.interval / 2)


def advised(learned: Rate) -> Rate:
    """A ``--rate`` that stays under what the server admitted (``learned``) in every
    second as well as every period: ``HOLD`` of it, and at ``N/min`` no more than
    whole requests per second the server admitted (``ceil(N/60)`` is what
    :class:`Throttle` lets into a second). A small per-second limit is advised as
    it is: the send log already keeps every sliding second at or under it."""
    count = math.floor(HOLD * learned.count)
    if learned.period <= 1 and learned.count * (1 - HOLD) < 1:
        count = math.floor(learned.count)
    per_second = math.floor(learned.per_second)
    if learned.period > 1 and per_second >= 1:
        count = min(count, math.floor(per_second * learned.period))
    return Rate(max(1, count), learned.period)


@dataclass(frozen=True)
class Cut:
    """What one 429 changed: ``hiccup`` (the pace stays) or a new learned limit."""

    hiccup: bool
    pace: Rate                 # the pace aimed at from now on, in --rate's unit
    learned: Rate | None       # what the server admitted, in --rate's unit
    pause_s: float             # every sender waits this long first


class LimitFinder:
    """The pace the server admits, learned from its 429s. Pure: time comes from
    ``clock`` and from the grant times handed in, so tests drive it step by step.

    * A 429 for a request granted before the last cut is an echo of the old pace:
      ignored.
    * A 429 in the session's first period, or when the client was not saturated
      (see the module), is a hiccup: every sender waits ``HICCUP_PAUSE`` (in the
      first period the ``Retry-After``, up to a period), the pace stays. In the
      first period the server's window may still hold requests this session
      never saw (the session before a resume, another client): what this session
      sent says nothing about the limit yet.
    * When the server admitted less than the limit already learned in the period
      before it, 429s show the limit fell only when they are ``SIGNIFICANT`` of
      the period's requests and at least three; fewer are stray (a gateway's, or
      the server's clock bunching arrivals): hiccups. Without this, every stray
      429 while holding just under the limit would teach a little less.
    * A lone 429 at full pace is a hiccup when it follows ``CLEAN_STRETCH`` clean
      periods, when the server admitted ``FULL`` of ``--rate`` in the period
      before it (its limit is not lower; arrivals bunched: a server that paused,
      connections opening at the start). A second 429 within a period is not
      lone.
    * Any other 429 is a limit: the server admitted what the client sent in the
      period before the refused request, less what it refused. The pace drops to
      ``HOLD`` of that, after a pause until the client's own send log says the
      server's window has room at the new pace (the server's ``Retry-After`` is in
      whole seconds; it bounds that pause, and is honoured in full by everyone
      when a second cut follows within a period).
    * After ``HOLD_PERIODS`` the pace probes upward by ``PROBE`` of the learned
      limit per period, as clean answers come in; above the learned limit the climb
      doubles every period, so a limit that went away is left in a few periods and
      the pace is back at ``--rate``.
    """

    def __init__(self, rate: Rate, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.clock = clock
        self.cap = rate.per_second
        self.pace = self.cap                 # requests per second aimed at
        self.learned: int | None = None      # requests per period, at the last cut
        self._grants: deque[float] = deque()
        self._refused: deque[float] = deque()
        self._pauses: deque[tuple[float, float]] = deque()   # (start, end): nobody sent
        self._first: float | None = None                     # the session's first grant
        self._start = start = clock()
        self._last_cut = self._last_signal = -math.inf     # the last 429 not an echo
        self._resumed = -math.inf                          # when its pause ended
        self._last_step = self._hold_until = start
        self._above_since: float | None = None

    def granted(self, t: float) -> None:
        """A request left at ``t`` (grant times ascend)."""
        grants = self._grants
        grants.append(t)
        if self._first is None:
            self._first = t
        horizon = t - 2 * self.rate.period
        while grants[0] < horizon:
            grants.popleft()

    def throttled(self, sent_at: float, retry_after: float | None) -> Cut | None:
        """A 429 for the request granted at ``sent_at``; None when it changes nothing."""
        now = self.clock()
        refused = self._refused
        refused.append(sent_at)
        # A request may be answered long after its grant (it waited for a token):
        # then even this one is out of the horizon.
        while refused and refused[0] < now - 2 * self.rate.period:
            refused.popleft()
        if sent_at < self._last_cut:
            return None
        period = self.rate.period
        admitted = len(self._admitted(sent_at - period, sent_at))
        if self._hiccup(now, sent_at, admitted):
            pause = min(max(HICCUP_PAUSE, self.rate.interval), retry_after or math.inf)
            if retry_after and sent_at - self._start < period:
                # Too early to judge the limit, but the server said when its window
                # has room: waiting that out (at most a period) spares a storm of
                # 429s until this session's first period is full.
                pause = min(retry_after, period)
            self._last_cut = self._last_signal = now
            self.paused(now, now + pause)
            return Cut(True, self.pace_rate, self.learned_rate, pause)
        # A period that overlaps the last cut's pause undercounts what the server admits:
        # keep what was learned, and wait as long as the server asks.
        repeated = sent_at < self._resumed + period
        if not (repeated and self.learned):
            self.learned = max(1, admitted)
        learned = self.learned or 1
        self.pace = min(self.cap, max(self.cap * MIN_SHARE, HOLD * learned / period))
        resume = self._room_at(now, math.floor(HOLD * learned))
        if retry_after:
            resume = now + retry_after if repeated else min(resume, now + retry_after)
        self._last_cut = self._last_signal = now
        self._resumed = resume
        self.paused(now, resume)
        self._hold_until = self._last_step = resume + HOLD_PERIODS * period
        self._above_since = None
        return Cut(False, self.pace_rate, self.learned_rate, resume - now)

    def _hiccup(self, now: float, sent_at: float, admitted: int) -> bool:
        """True when this 429 says nothing about the server's limit."""
        period = self.rate.period
        if sent_at - self._start < period or not self.saturated(sent_at):
            return True
        lone = now - self._last_signal >= period
        if self.learned is not None and admitted < self.learned:
            # The server admitted more than this before: is its limit really lower?
            offered = self._offered(sent_at - period, sent_at) + 1   # the refused one too
            refused = sum(1 for t in self._refused if sent_at - period <= t <= sent_at)
            return refused < max(3, SIGNIFICANT * offered)
        if self.pace < self.cap or not lone:
            return False
        quiet = now - max(self._last_signal, self._start) >= CLEAN_STRETCH * period
        return quiet or admitted >= FULL * self.rate.count

    def saturated(self, sent_at: float) -> bool:
        """Whether the client offered the pace over the period before ``sent_at``:
        at least ``SATURATED`` of what the pace allowed in it, the period cut to
        the session's first request and less the time every sender was paused."""
        if self._first is None:
            return False
        start = max(sent_at - self.rate.period, self._first)
        span = sent_at - start - self._paused_within(start, sent_at)
        if span <= 0:
            return False
        return self._offered(start, sent_at) + 1 >= SATURATED * self.pace * span

    def paused(self, start: float, end: float) -> None:
        """Every sender waited from ``start`` to ``end`` (no request could leave)."""
        if end <= start:
            return
        pauses = self._pauses
        pauses.append((start, end))
        while pauses and pauses[0][1] < start - 2 * self.rate.period:
            pauses.popleft()

    def _paused_within(self, start: float, end: float) -> float:
        """Seconds of [start, end) covered by pauses (overlapping pauses once)."""
        total, reach = 0.0, start
        for a, b in sorted(self._pauses):
            a, b = max(a, reach), min(b, end)
            if b > a:
                total += b - a
                reach = b
        return total

    def _offered(self, start: float, end: float) -> int:
        """Grants in [start, end), refused ones included."""
        return sum(1 for t in self._grants if start <= t < end)

    def clean(self) -> bool:
        """A definite answer: probe upward. True when the pace is back at ``--rate``."""
        if self.pace >= self.cap:
            return False
        now = self.clock()
        start = max(self._last_step, self._hold_until)
        if now <= start:
            return False
        period = self.rate.period
        learned = (self.learned or 1) / period
        speed = PROBE * learned / period
        if self.pace > learned:
            if self._above_since is None:
                self._above_since = start
            speed *= 2 ** ((now - self._above_since) / period)
        # Answers far apart (a pause, a slow server) are no evidence for the time
        # between them: a quarter period at most per step.
        self.pace = min(self.cap, self.pace + speed * min(now - start, period / 4))
        self._last_step = now
        return self.pace >= self.cap

    @property
    def pace_rate(self) -> Rate:
        return Rate(round(self.pace * self.rate.period, 1), self.rate.period)

    @property
    def learned_rate(self) -> Rate | None:
        return None if self.learned is None else Rate(self.learned, self.rate.period)

    def _admitted(self, start: float, end: float) -> list[float]:
        """Grants in [start, end) not refused (as far as answers have told)."""
        refused = set(self._refused)
        return [t for t in self._grants if start <= t < end and t not in refused]

    def _room_at(self, now: float, target: int) -> float:
        """When at most ``target`` admitted grants remain in the trailing period."""
        period = self.rate.period
        window = self._admitted(now - period, math.inf)
        excess = len(window) - target
        if excess <= 0:
            return now
        return window[excess - 1] + period + ROOM_MARGIN * period


class Throttle:
    def __init__(self, rate: Rate, clock: Callable[[], float] = time.monotonic) -> None:
        # ``clock`` must be the loop's clock (aiolimiter paces on loop.time()):
        # tests run the throttle on a loop whose clock they drive.
        self.rate, self._clock = rate, clock
        slack = max(1, min(SLACK, int(rate.count)))
        self._smooth = AsyncLimiter(slack, slack * rate.interval)
        size = max(1, min(LOG_MAX, math.floor(rate.count)))
        # A request leaves a little after its slot is granted (the task must start,
        # the body be written); the margin keeps that jitter from squeezing one
        # more request into a window as the server measures it.
        self._window = (rate.period + jitter_margin(rate)) * size / rate.count
        self._sent: deque[float] = deque(maxlen=size)
        # A longer period's rate, held in every second too (see the module).
        per_second = min(LOG_MAX, math.ceil(rate.per_second))
        self._second: deque[float] = deque(maxlen=per_second if rate.period > 1 else 0)
        # Its margin for send jitter: what the rate leaves to spare in a second
        # (230/min is 3.83/s under 4: up to 43 ms), at least the usual one.
        spare = min(0.1, per_second / rate.per_second - 1)
        self._second_window = 1 + max(min(JITTER_MARGIN, 0.5 / per_second), spare)
        self._lock = asyncio.Lock()
        self.finder = LimitFinder(rate, clock)
        self._next_slot = 0.0
        self._paused_until = 0.0

    async def acquire(self) -> float:
        """Wait for a slot; returns the monotonic time the request may leave."""
        # One caller at a time: the dispatcher and a bisecting request may both ask,
        # and the send log must see each send before the next is decided.
        async with self._lock:
            await self._held()
            await self._smooth.acquire()
            sent, second = self._sent, self._second
            if len(sent) == sent.maxlen:
                wait = sent[0] + self._window - self._clock()
                if wait > 0:
                    await asyncio.sleep(wait)
            if second.maxlen and len(second) == second.maxlen:
                wait = second[0] + self._second_window - self._clock()
                if wait > 0:
                    await asyncio.sleep(wait)
            # A cut while this caller waited above: without a second look, the
            # request would leave at the old pace into the window just refused.
            await self._held()
            now = self._clock()
            sent.append(now)
            if second.maxlen:
                second.append(now)
            finder = self.finder
            finder.granted(now)
            if finder.pace < finder.cap:
                self._next_slot = now + 1 / finder.pace
            return now

    async def _held(self) -> None:
        """Until every pause is over and the learned pace allows the next slot."""
        while True:
            delay = max(self._paused_until, self._next_slot) - self._clock()
            if delay <= 0:
                return
            await asyncio.sleep(delay)

    @property
    def share(self) -> float:
        """The pace aimed at, as a share of ``--rate`` (progress, metrics)."""
        return self.finder.pace / self.finder.cap

    def throttled(self, sent_at: float, retry_after: float | None) -> Cut | None:
        """A 429 for a request sent at ``sent_at``: what it changed, if anything."""
        cut = self.finder.throttled(sent_at, retry_after)
        if cut is not None:
            self.pause(cut.pause_s)
        return cut

    def clean(self) -> bool:
        """A definite answer. True when it brought the pace back to ``--rate``."""
        return self.finder.clean()

    def pause(self, seconds: float) -> None:
        """Hold every sender back (a 503 or 461 with Retry-After)."""
        now = self._clock()
        self.finder.paused(max(now, self._paused_until), now + seconds)
        self._paused_until = max(self._paused_until, now + seconds)
