"""engine/throttle.py. The limit-finding policy runs on a fake clock, step by
step, so every figure is exact; the pacing runs on an event loop whose clock the
test owns (tests.helpers.FakeClockLoop: a sleep jumps the clock), so no test
waits in wall time or depends on how busy the machine is."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from itertools import pairwise

import pytest

from bulkupdate.engine.throttle import (
    CLEAN_STRETCH,
    FULL,
    HICCUP_PAUSE,
    HOLD,
    HOLD_PERIODS,
    MIN_SHARE,
    ROOM_MARGIN,
    SIGNIFICANT,
    SLACK,
    Cut,
    LimitFinder,
    Throttle,
    advised,
)
from bulkupdate.settings import Rate, parse_rate
from tests.helpers import on_fake_clock


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def send(finder: LimitFinder, clock: Clock, per_s: float, seconds: float) -> list[float]:
    """Grants at ``per_s`` for ``seconds``, the clock following them."""
    times = []
    for _ in range(round(per_s * seconds)):
        clock.now += 1 / per_s
        times.append(clock.now)
        finder.granted(clock.now)
    return times


def answers(finder: LimitFinder, clock: Clock, seconds: float, every: float = 0.01) -> None:
    """Clean answers every ``every`` seconds for ``seconds``."""
    for _ in range(round(seconds / every)):
        clock.now += every
        finder.clean()


def over_limit() -> tuple[LimitFinder, Clock, list[float]]:
    """--rate 100/s against a server that admitted 40 in 0.4 s, then refused
    (after the session's first period: authenticating, reading the input)."""
    clock = Clock()
    finder = LimitFinder(Rate(100, 1), clock)
    clock.now += 1.0
    times = send(finder, clock, 100, 0.41)
    return finder, clock, times


def refused(finder: LimitFinder, clock: Clock, times: list[float],
                  retry_after: float | None = 1.0) -> Cut | None:
    """The 41st request's 429 arrives."""
    clock.now = times[40] + 0.002
    return finder.throttled(times[40], retry_after)


def test_the_admitted_rate_is_learned_and_held_just_under() -> None:
    finder, clock, times = over_limit()
    cut = refused(finder, clock, times)
    assert cut is not None and not cut.hiccup
    assert cut.learned == Rate(40, 1) and finder.learned == 40
    assert finder.pace == pytest.approx(HOLD * 40)
    assert str(cut.pace) == "38.8/s"
    # Everyone waits until the client's own log shows room in the server's second
    # at the new pace: 38 left in it (97% of 40, rounded down), so the second
    # oldest grant must age out.
    # (Plus a margin: a busy server stamps arrivals late.)
    assert clock.now + cut.pause_s == pytest.approx(times[1] + 1 + ROOM_MARGIN)


def test_a_429_answered_long_after_its_grant_is_weighed_not_a_crash() -> None:
    """A request may wait for an OAuth token (retried 503s) long after the pacer
    let it go: its 429 then arrives more than two periods after its grant."""
    finder, clock, times = over_limit()
    clock.now = times[40] + 2.5
    cut = finder.throttled(times[40], 1.0)
    assert cut is None or cut.pause_s >= 0


def test_429s_for_requests_sent_before_the_cut_are_echoes() -> None:
    finder, clock, times = over_limit()
    assert refused(finder, clock, times) is not None
    clock.now += 0.001
    assert finder.throttled(clock.now - 0.002, 1.0) is None     # left before the cut
    assert finder.pace == pytest.approx(HOLD * 40)


def test_a_second_cut_within_a_period_honours_retry_after_in_full() -> None:
    finder, clock, times = over_limit()
    first = refused(finder, clock, times)
    assert first is not None and not first.hiccup
    first_at = clock.now
    # Refused again after the pause, though the server admitted less than the
    # limit just learned: one such 429 may be stray (a hiccup) ...
    clock.now += first.pause_s
    finder.granted(clock.now)
    clock.now += 0.002
    stray = finder.throttled(clock.now - 0.002, 1.0)
    assert stray is not None and stray.hiccup
    # ... refused again and again (a quarter of the period's requests) within the
    # period is the server's window disagreeing with ours.
    again = stray
    while again.hiccup:
        clock.now += again.pause_s
        finder.granted(clock.now)
        clock.now += 0.002
        again = finder.throttled(clock.now - 0.002, 1.0)
        assert again is not None and clock.now < first_at + 1
    assert again.pause_s == 1.0
    # The period before it holds the pause: it says nothing new about the limit.
    assert again.learned == Rate(40, 1)


def test_the_pace_holds_then_probes_upward_slowly() -> None:
    finder, clock, times = over_limit()
    cut = refused(finder, clock, times, None)
    assert cut is not None
    held = finder.pace
    answers(finder, clock, cut.pause_s + HOLD_PERIODS - 0.05)
    assert finder.pace == held                      # holding
    answers(finder, clock, 1.0)
    # Probing: about 2% of the learned limit per period, no more.
    assert held < finder.pace <= held + 0.02 * 40 * 1.2


def test_back_at_rate_soon_after_the_429s_stop_for_good() -> None:
    finder, clock, times = over_limit()
    assert refused(finder, clock, times, None) is not None
    back = []
    for _ in range(1200):
        clock.now += 0.01
        back.append(finder.clean())
    assert back.count(True) == 1                    # said once, when it got there
    assert finder.pace == finder.cap
    assert back.index(True) * 0.01 < 12             # 40/s → 100/s in under 12 periods


def test_a_lone_429_after_a_clean_stretch_is_a_hiccup() -> None:
    clock = Clock()
    finder = LimitFinder(Rate(100, 1), clock)
    times = send(finder, clock, 100, CLEAN_STRETCH + 1)
    clock.now = times[-1] + 0.002
    cut = finder.throttled(times[-1], 1.0)
    assert cut is not None and cut.hiccup
    assert cut.pause_s == HICCUP_PAUSE and cut.learned is None
    assert finder.pace == finder.cap                # the pace stays
    # The request that left just after the first one is no second signal.
    assert finder.throttled(times[-1] + 0.001, 1.0) is None
    # A 429 again soon after is a limit after all.
    clock.now += HICCUP_PAUSE
    finder.granted(clock.now)
    clock.now += 0.002
    cut = finder.throttled(clock.now - 0.002, 1.0)
    assert cut is not None and not cut.hiccup and finder.pace < finder.cap


def test_a_429_when_the_server_admitted_all_of_rate_is_a_hiccup_even_early() -> None:
    clock = Clock()
    finder = LimitFinder(Rate(100, 1), clock)
    times = send(finder, clock, 100, 1.01)         # a full second, then a 429
    clock.now = times[-1] + 0.002
    cut = finder.throttled(times[-1], 1.0)
    assert cut is not None and cut.hiccup and finder.pace == finder.cap
    # A limit just under --rate shows itself by a second 429 within the period.
    times = send(finder, clock, 100, 0.3)
    clock.now = times[-1] + 0.002
    cut = finder.throttled(times[-1], 1.0)
    assert cut is not None and not cut.hiccup and cut.learned is not None
    assert 90 <= cut.learned.count <= 100
    # Early in the run, a server that admitted clearly less than --rate has a limit.
    clock = Clock()
    finder = LimitFinder(Rate(100, 1), clock)
    times = send(finder, clock, FULL * 100 - 5, 1.01)
    clock.now = times[-1] + 0.002
    cut = finder.throttled(times[-1], 1.0)
    assert cut is not None and not cut.hiccup


def test_no_hiccup_while_probing_a_learned_limit() -> None:
    finder, clock, times = over_limit()
    assert refused(finder, clock, times, None) is not None
    answers(finder, clock, CLEAN_STRETCH + 1)
    assert finder.pace > 40                         # probing above the learned 40/s
    times = send(finder, clock, finder.pace, 1.0)  # saturated, at that pace
    clock.now += 0.002
    cut = finder.throttled(times[-1], None)
    assert cut is not None and not cut.hiccup and cut.learned is not None
    assert cut.learned.count >= 40


def test_a_429_without_saturation_teaches_nothing() -> None:
    # The tail of a run, customers held for settling: a trickle far under the pace.
    clock = Clock()
    finder = LimitFinder(Rate(30, 1), clock)
    times = send(finder, clock, 30, 3.0)
    times = send(finder, clock, 2, 3.0)
    clock.now += 0.002
    cut = finder.throttled(times[-1], 1.0)
    assert cut is not None and cut.hiccup and finder.learned is None
    assert finder.pace == finder.cap
    # Not lone, still not saturated: still a hiccup.
    times = send(finder, clock, 2, 0.5)
    cut = finder.throttled(times[-1], 1.0)
    assert cut is not None and cut.hiccup and finder.learned is None


def test_429s_in_the_sessions_first_period_teach_nothing() -> None:
    # Three requests back to back at the start (the slack), one 429 44 ms later.
    clock = Clock()
    finder = LimitFinder(Rate(30, 1), clock)
    times = send(finder, clock, 100, 0.03)
    clock.now += 0.044
    cut = finder.throttled(times[-1], None)    # (with a Retry-After: the next test)
    assert cut is not None and cut.hiccup and finder.learned is None
    assert finder.pace == finder.cap
    # Refused again and again: the server's window may hold the requests of the
    # session before a resume. Learned only once this session's own period is full.
    while clock.now < 1000.99:
        clock.now += 0.1
        finder.granted(clock.now)
        cut = finder.throttled(clock.now, None)
        assert cut is not None and cut.hiccup
    times = send(finder, clock, 30, 0.2)
    cut = finder.throttled(times[-1], 1.0)
    assert cut is not None and not cut.hiccup and finder.learned is not None


def test_stray_429s_below_the_learned_limit_are_hiccups() -> None:
    finder, clock, times = over_limit()
    assert refused(finder, clock, times, None) is not None
    answers(finder, clock, 1.5)
    # Saturated at the held pace (38.8/s, under the learned 40): one stray 429
    # per period is no sign that the limit fell.
    for _ in range(3):
        times = send(finder, clock, finder.pace, 1.0)
        clock.now += 0.002
        cut = finder.throttled(times[-1], 1.0)
        assert cut is not None and cut.hiccup and finder.learned == 40
    # A real fall refuses a share of the requests: learned again, lower.
    times = send(finder, clock, finder.pace, 1.0)
    refusals = times[-round(SIGNIFICANT * len(times)) - 1:]
    clock.now += 0.002
    first = finder.throttled(refusals[0], None)
    assert first is not None and first.hiccup       # lone so far
    assert not any(finder.throttled(t, None) for t in refusals[1:])   # echoes
    clock.now += first.pause_s
    finder.granted(clock.now)
    clock.now += 0.002
    cut = finder.throttled(clock.now - 0.002, None)
    assert cut is not None and not cut.hiccup
    assert finder.learned is not None and finder.learned < 40


def test_paused_time_does_not_count_against_saturation() -> None:
    clock = Clock()
    finder = LimitFinder(Rate(30, 1), clock)
    send(finder, clock, 30, 2.0)
    finder.paused(clock.now, clock.now + 0.5)       # a 503's Retry-After: nobody sent
    clock.now += 0.5
    times = send(finder, clock, 30, 0.5)
    assert finder.saturated(times[-1] + 0.001)
    clock = Clock()
    finder = LimitFinder(Rate(30, 1), clock)
    send(finder, clock, 30, 2.0)
    clock.now += 0.5                                # idle, not paused: the input trickled
    times = send(finder, clock, 30, 0.5)
    assert not finder.saturated(times[-1] + 0.001)


def test_the_pace_has_a_floor_and_never_exceeds_the_cap() -> None:
    clock = Clock()
    finder = LimitFinder(Rate(100, 1), clock)
    times = send(finder, clock, 100, 2.0)
    clock.now += 0.002
    for t in times[-100:]:                          # the server refused a whole period
        finder.throttled(t, None)
    finder.granted(clock.now)
    clock.now += 0.002
    cut = finder.throttled(clock.now - 0.002, None)
    assert cut is not None and cut.learned == Rate(1, 1)
    assert finder.pace == 100 * MIN_SHARE
    clock = Clock()
    finder = LimitFinder(Rate(10, 1), clock)
    times = send(finder, clock, 1000, 0.5)         # more than --rate was ever sent
    cut = finder.throttled(times[-1], None)
    assert cut is not None and finder.pace == 10


def test_a_first_period_429_waits_out_its_retry_after_up_to_a_period() -> None:
    """Too early to judge the limit, but not a reason to be refused again and again."""
    clock = Clock()
    finder = LimitFinder(Rate(100, 1), clock)
    times = send(finder, clock, 100, 0.4)
    cut = finder.throttled(times[-1], 1.0)
    assert cut is not None and cut.hiccup and cut.pause_s == 1.0
    assert finder.learned is None and finder.pace == finder.cap
    later = LimitFinder(Rate(100, 1), clock)      # a Retry-After longer than the window
    times = send(later, clock, 100, 0.2)
    cut = later.throttled(times[-1], 30.0)
    assert cut is not None and cut.hiccup and cut.pause_s == 1.0


def test_a_per_minute_rate_learns_per_minute() -> None:
    clock = Clock()
    finder = LimitFinder(Rate(100, 60), clock)
    clock.now += 60
    times = send(finder, clock, 100 / 60, 40)      # 66 requests in 40 s
    cut = finder.throttled(times[-1], 20.0)
    assert cut is not None and str(cut.learned) == "66/min"


# -- the pacing, on the loop's clock (a fake one: tests.helpers.FakeClockLoop) -----------------


def test_pacing_is_smooth_and_follows_the_learned_pace() -> None:
    async def main(clock: Callable[[], float]) -> None:
        t = Throttle(Rate(20, 0.1), clock)           # one request every 5 ms
        times = [await t.acquire() for _ in range(21)]
        # No burst: after the slack is spent, one request per 5 ms on average.
        assert times[-1] - times[0] >= (20 - SLACK) * 0.005 * 0.99
        # Refused from here on: hiccups while in the session's first period, then
        # a limit.
        cut = t.throttled(times[-1], None)
        for _ in range(200):
            if cut is None or not cut.hiccup:
                break
            times.append(await t.acquire())
            cut = t.throttled(times[-1], None)
        assert cut is not None and not cut.hiccup
        pace = t.finder.pace
        assert pace < 200 and t.share == pace / 200
        after = [await t.acquire() for _ in range(5)]
        assert after[0] >= times[-1] + cut.pause_s - 0.001
        assert min(b - a for a, b in pairwise(after)) >= 1 / pace * 0.99

    # Timers wake 0.1 ms late, as on a real loop: a sender is never back at the
    # very instant a hiccup's pause ends, so the period before it is saturated.
    on_fake_clock(main, lateness=0.0001)


def test_never_more_than_rate_in_any_sliding_window() -> None:
    async def main(clock: Callable[[], float]) -> None:
        t = Throttle(Rate(20, 0.1), clock)           # 20 per 100 ms
        times = [await t.acquire() for _ in range(60)]
        for i, start in enumerate(times):
            assert sum(1 for x in times[i:] if x < start + 0.1) <= 20

    on_fake_clock(main)


def test_retry_after_pauses_everyone() -> None:
    async def main(clock: Callable[[], float]) -> None:
        t = Throttle(Rate(1000, 1), clock)
        await t.acquire()
        t.pause(0.05)
        start = clock()
        await asyncio.gather(t.acquire(), t.acquire())
        assert clock() - start >= 0.049

    on_fake_clock(main)


def test_a_pause_holds_a_request_already_waiting_for_its_slot() -> None:
    async def main(clock: Callable[[], float]) -> None:
        t = Throttle(Rate(2, 0.2), clock)            # the third request waits ~0.2 s
        await t.acquire()
        await t.acquire()
        waiting = asyncio.create_task(t.acquire())
        await asyncio.sleep(0.02)
        paused_at = clock()
        t.pause(0.4)
        granted = await waiting
        # Either it left before the pause began, or after it.
        assert granted < paused_at or granted >= paused_at + 0.4

    on_fake_clock(main)


def test_a_per_minute_rate_never_bunches_more_than_its_share_into_a_second() -> None:
    # --rate 230/min: at most ceil(230/60) = 4 in any sliding second, catch-up after a
    # stall (the loop was busy, a sender slept) included — a per-second gateway admits 4.
    async def main(clock: Callable[[], float]) -> None:
        t = Throttle(Rate(230, 60), clock)
        times = []
        for i in range(120):
            if i % 9 == 0:
                await asyncio.sleep(1.3)               # a stall: the bucket's slack fills
            times.append(await t.acquire())
        for i, start in enumerate(times):
            # A server's clock sees arrivals a little bunched: what 230/min spares
            # in a second (4 / 3.83 s: 43 ms) is kept as margin.
            assert sum(1 for x in times[i:] if x < start + 1.04) <= 4, i
        # And the pace is kept: the stalls aside, about 230/min.
        busy = times[-1] - times[0] - (120 // 9) * 1.3
        assert 119 / busy >= 0.9 * 230 / 60

    on_fake_clock(main, lateness=0.0001)


def test_a_per_second_rate_keeps_its_own_window_only() -> None:
    async def main(clock: Callable[[], float]) -> None:
        t = Throttle(Rate(4, 1), clock)
        times = [await t.acquire() for _ in range(40)]
        assert (len(times) - 1) / (times[-1] - times[0]) >= 0.9 * 4
        for i, start in enumerate(times):
            assert sum(1 for x in times[i:] if x < start + 1.0) <= 4

    on_fake_clock(main)


@pytest.mark.parametrize(("learned", "advice"), [
    ("184/min", "178/min"), ("240/min", "232/min"), ("250/min", "240/min"),
    ("40/min", "38/min"), ("4/s", "4/s"), ("100/s", "97/s"), ("1/min", "1/min")])
def test_the_advised_rate_stays_under_the_learned_limit_in_every_second(
        learned: str, advice: str) -> None:
    got = advised(parse_rate(learned))
    assert str(got) == advice
    limit = parse_rate(learned)
    assert got.count <= limit.count
    # What Throttle lets into one second at the advised rate, against what was learned.
    if got.period > 1 and limit.per_second >= 1:
        assert math.ceil(got.per_second) <= math.floor(limit.per_second)
