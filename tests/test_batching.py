"""batching.py: per-customer order, no customer twice in a request, nothing lost."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkupdate.engine.scheduler import Scheduler, chunk_bodies
from bulkupdate.source.validate import Record


def rec(line: int, *keys: str) -> Record:
    return Record(line, b'{"n":%d}' % line, {}, [("P", "UPGRADE")], keys)


def test_later_update_for_a_customer_waits_for_the_earlier_one() -> None:
    s = Scheduler()
    a, b, c = rec(1, "m:1"), rec(2, "m:1"), rec(3, "m:2")
    for r in (a, b, c):
        s.admit(r)
    assert s.take(50) == [a, c]
    assert s.take(50) == []
    s.finish(a)
    assert s.take(50) == [b]


def test_record_with_two_keys_waits_for_both() -> None:
    s = Scheduler()
    a, b, c = rec(1, "m:1"), rec(2, "e:x"), rec(3, "m:1", "e:x")
    for r in (a, b, c):
        s.admit(r)
    assert s.take(50) == [a, b]
    s.finish(a)
    assert s.take(50) == []
    s.finish(b)
    assert s.take(50) == [c]


def test_a_waiting_record_blocks_later_ones_on_its_other_keys() -> None:
    s = Scheduler()
    a, b, c = rec(1, "m:1"), rec(2, "m:1", "e:x"), rec(3, "e:x")
    for r in (a, b, c):
        s.admit(r)
    assert s.take(50) == [a]   # c must not overtake b, which also names e:x
    s.finish(a)
    assert s.take(50) == [b]
    s.finish(b)
    assert s.take(50) == [c]


def test_given_back_records_go_first() -> None:
    s = Scheduler()
    records = [rec(i, f"m:{i}") for i in range(5)]
    for r in records:
        s.admit(r)
    first = s.take(2)
    s.give_back(first)
    assert s.take(5) == records


def test_body_joins_record_bytes() -> None:
    body = chunk_bodies([rec(1, "a"), rec(2, "b")])
    assert orjson.loads(body) == {"customersPartnerUpdates": [{"n": 1}, {"n": 2}]}


@settings(max_examples=200, deadline=None)
@given(customers=st.lists(st.lists(st.integers(0, 6), min_size=1, max_size=2, unique=True),
                          max_size=80),
       limit=st.integers(1, 50), seed=st.randoms(use_true_random=False))
def test_batches_keep_order_limits_and_every_record(customers: list[list[int]], limit: int,
                                                     seed: object) -> None:
    """Drive the scheduler like the pipeline does, finishing requests in random order."""
    s = Scheduler()
    records = [rec(i, *(f"c:{k}" for k in ks)) for i, ks in enumerate(customers)]
    for r in records:
        s.admit(r)
    in_flight: list[list[Record]] = []
    sent: list[Record] = []
    while s.pending:
        flying = sum(len(b) for b in in_flight)
        assert s.pending == len(s) + flying + s.blocked, "blocked miscounted"
        batch = s.take(limit)
        if batch:
            assert len(batch) <= limit
            keys = [k for r in batch for k in r.keys]
            assert len(keys) == len(set(keys)), "a customer twice in one request"
            busy = {k for b in in_flight for r in b for k in r.keys}
            assert not busy & set(keys), "two requests for one customer in flight"
            in_flight.append(batch)
            sent.extend(batch)
        else:
            assert in_flight, "records pending but nothing sendable or in flight"
        if in_flight and (not batch or seed.random() < 0.5):  # type: ignore[attr-defined]
            done = in_flight.pop(seed.randrange(len(in_flight)))  # type: ignore[attr-defined]
            for r in done:
                s.finish(r)
    assert sorted(r.line for r in sent) == list(range(len(records)))
    for key in {k for r in records for k in r.keys}:
        lines = [r.line for r in sent if key in r.keys]
        assert lines == sorted(lines), f"updates for {key} out of input order"


def test_a_held_record_keeps_its_customer_until_given_back() -> None:
    s = Scheduler()
    a, b, c = rec(1, "m:1"), rec(2, "m:1"), rec(3, "m:2")
    assert s.admit(a, hold=True)
    assert not s.admit(b) and s.admit(c)
    assert s.take(50) == [c]
    s.give_back([a])
    assert s.take(50) == [a]
    s.finish(a)
    assert s.take(50) == [b]


def test_records_behind_their_customer_count_as_blocked_until_they_head_every_queue() -> None:
    s = Scheduler()
    a, b, c, d = rec(1, "m:1"), rec(2, "e:x"), rec(3, "m:1", "e:x"), rec(4, "m:2")
    for r in (a, b, c, d):
        s.admit(r)
    assert (s.pending, s.blocked) == (4, 1)
    assert s.take(50) == [a, b, d]
    s.finish(a)
    assert s.blocked == 1          # c still waits behind b
    s.finish(b)
    assert s.blocked == 0 and s.take(50) == [c]


def test_a_held_head_is_not_blocked_but_its_followers_are() -> None:
    s = Scheduler()
    a, b = rec(1, "m:1"), rec(2, "m:1")
    s.admit(a, hold=True)
    s.admit(b)
    assert (s.pending, s.blocked, len(s)) == (2, 1, 0)
    s.finish(a)
    assert (s.pending, s.blocked, len(s)) == (1, 0, 1)
