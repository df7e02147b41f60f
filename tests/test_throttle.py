"""throttle.py: multiplicative decrease once per round trip, slow climb, cap held."""

from __future__ import annotations

import asyncio
import time
from itertools import pairwise

import pytest

from bulkupdate.settings import Rate
from bulkupdate.throttle import DECREASE, MIN_SHARE, SLACK, Throttle


def test_429_echoes_of_the_old_pace_cut_only_once() -> None:
    t = Throttle(Rate(100, 1))
    sent = time.monotonic()
    assert t.throttled(sent, None)
    assert not t.throttled(sent, 30.0)          # sent before the cut: an echo
    assert t.share == DECREASE
    assert t.throttled(time.monotonic() + 1, None)
    assert t.share == pytest.approx(DECREASE * DECREASE)


def test_share_climbs_back_with_clean_time_and_never_above_the_cap() -> None:
    t = Throttle(Rate(100, 1), climb_per_s=1000.0)   # a fast climb: no sleeping
    t.throttled(time.monotonic(), None)
    assert t.share == DECREASE
    time.sleep(0.001)
    t.clean()
    assert t.share == 1.0
    slow = Throttle(Rate(100, 1), climb_per_s=0.001)
    slow.throttled(time.monotonic(), None)
    for _ in range(100):
        slow.clean()
    assert slow.share < 0.71


def test_share_has_a_floor() -> None:
    t = Throttle(Rate(100, 1))
    for i in range(20):
        t.throttled(time.monotonic() + i, None)
    assert t.share == MIN_SHARE


async def test_pacing_is_smooth_and_slows_after_a_cut() -> None:
    t = Throttle(Rate(200, 1))                   # one request every 5 ms
    times = [await t.acquire() for _ in range(21)]
    # No burst: after the slack is spent, one request per 5 ms on average.
    assert times[-1] - times[0] >= (20 - SLACK) * 0.005 * 0.99
    t.throttled(time.monotonic(), None)
    times = [await t.acquire() for _ in range(6)]
    gaps = [b - a for a, b in pairwise(times)]
    assert min(gaps) >= 0.005 / DECREASE * 0.99  # 70% of the pace


async def test_never_more_than_rate_in_any_sliding_window() -> None:
    t = Throttle(Rate(20, 0.1))                  # 20 per 100 ms
    times = [await t.acquire() for _ in range(60)]
    for i, start in enumerate(times):
        assert sum(1 for x in times[i:] if x < start + 0.1) <= 20


async def test_retry_after_pauses_everyone() -> None:
    t = Throttle(Rate(1000, 1))
    await t.acquire()
    t.pause(0.05)
    start = time.monotonic()
    await asyncio.gather(t.acquire(), t.acquire())
    assert time.monotonic() - start >= 0.049
