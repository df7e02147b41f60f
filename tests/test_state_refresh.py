"""The refresh spread (issue 21): each key's due date spread over the period so
that no night carries more than about 1/30 of the keys; time is an argument."""

from __future__ import annotations

from collections import Counter

from bulkupdate.state.refresh import due_at, is_due, phase

DAY = 86_400 * 1_000_000
PERIOD = 30 * DAY
START = 20_000 * DAY + 2 * 3600 * 1_000_000   # a night at 02:00 UTC


def test_a_key_is_due_within_one_period_of_its_confirmation_never_later() -> None:
    for index in range(500):
        due = due_at(START, index, PERIOD)
        assert START < due <= START + PERIOD


def test_phases_fill_the_period_evenly() -> None:
    buckets = Counter(phase(i, PERIOD) * 30 // PERIOD for i in range(3000))
    assert len(buckets) == 30
    assert max(buckets.values()) <= 110


def test_no_period_means_never_due() -> None:
    assert not is_due(START, 1, None, START + 10 * PERIOD)
    assert not is_due(None, 1, PERIOD, START + 10 * PERIOD)


def test_thirty_one_nights_each_refresh_at_most_1_1_of_a_thirtieth() -> None:
    keys = 3000
    confirmed = dict.fromkeys(range(1, keys + 1), START)   # night 0 confirms every key
    shares = []
    for night in range(1, 32):
        now = START + night * DAY
        due = [k for k, at in confirmed.items() if is_due(at, k, PERIOD, now)]
        for k in due:
            confirmed[k] = now   # sent and confirmed again tonight
        shares.append(len(due))
    assert max(shares) <= 1.1 * keys / 30, shares
    assert sum(shares[:30]) == keys      # every key refreshed once in the first 30 nights
