"""retry: the policy as a value; delays pinned by an injected random source."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from bulkupdate.base.retry import RetryPolicy
from bulkupdate.settings import Settings


class Top(random.Random):
    """Always the top of the range: the ceiling itself."""

    def uniform(self, a: float, b: float) -> float:
        return b


def test_the_ceiling_doubles_per_attempt_up_to_the_cap() -> None:
    policy = RetryPolicy(base=0.5, cap=3.0, rng=Top())
    assert [policy.backoff(n) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_retry_after_is_a_floor() -> None:
    policy = RetryPolicy(base=0.5, cap=3.0, rng=Top())
    assert policy.backoff(1, retry_after=7.0) == 7.0 and policy.backoff(3, 1.0) == 2.0


@given(st.integers(1, 60), st.floats(0, 100), st.integers(0, 2**32))
def test_a_wait_never_exceeds_the_cap_unless_the_server_asked(
        attempts: int, retry_after: float, seed: int) -> None:
    policy = RetryPolicy(base=0.5, cap=30.0, rng=random.Random(seed))
    assert 0 <= policy.backoff(attempts) <= 30.0
    assert policy.backoff(attempts, retry_after) >= retry_after


def test_attempts_run_out_before_the_budget_is_looked_at() -> None:
    policy = RetryPolicy(max_attempts=3, budget=10.0)
    assert policy.give_up(2, waited=1.0, delay=1.0) is None
    assert policy.give_up(3, waited=100.0, delay=1.0) == "attempts"
    assert policy.give_up(2, waited=9.5, delay=1.0) == "budget"


def test_the_policy_comes_from_the_settings() -> None:
    settings = Settings(base_url="https://a.example.com", max_attempts=7, retry_budget=5.0,
                        backoff_base=0.1, backoff_cap=2.0, settle=5.0, timeout=9.0)
    assert RetryPolicy.from_settings(settings) == RetryPolicy(7, 5.0, 0.1, 2.0, settle=9.0)


def test_retry_after_paces_up_to_the_cap() -> None:
    policy = RetryPolicy(cap=30.0)
    assert (policy.paced(None), policy.paced(0.0), policy.paced(7.0)) == (None, None, 7.0)
    assert policy.paced(999999999.0) == 30.0


def test_a_retry_after_beyond_the_budget_left_gives_up_at_once() -> None:
    policy = RetryPolicy(max_attempts=5, budget=600.0)
    assert policy.give_up(1, waited=0.0, delay=30.0, retry_after=999999999.0) == "retry_after"
    assert policy.give_up(1, waited=500.0, delay=30.0, retry_after=120.0) == "retry_after"
    assert policy.give_up(1, waited=0.0, delay=30.0, retry_after=120.0) is None


def test_next_wait_caps_retry_after_and_gives_up_past_the_budget() -> None:
    policy = RetryPolicy(max_attempts=5, budget=100.0, base=0.1, cap=30.0,
                         rng=random.Random(1))
    wait = policy.next_wait(1, 0.0, 999_999_999.0)
    assert wait.paced == 30.0 and wait.delay == 30.0 and wait.gave_up == "retry_after"
    wait = policy.next_wait(1, 0.0, 50.0)
    assert (wait.paced, wait.delay, wait.gave_up) == (30.0, 30.0, None)
    assert policy.next_wait(5, 0.0).gave_up == "attempts"
