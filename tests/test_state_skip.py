"""The skip rule (issue 21, point 3) as a pure function: a record is unchanged
only when every program would leave the confirmed, non-pending state as it is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bulkupdate.state.intent import Intent, to_micros
from bulkupdate.state.skip import Decision, StoredRow, skip_decision

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
EXPIRY = datetime(2027, 12, 29, 23, 59, 59, tzinfo=UTC)
MONTH = timedelta(days=30)


def row(program: str = "P", *, linked: bool | None = True, tier: str | None = "Gold",
        expiry: datetime | None = EXPIRY, confirmed: datetime | None = NOW - timedelta(hours=1),
        pending: int | None = None, rejected: bool = False, index: int = 1) -> StoredRow:
    return StoredRow(program, index, linked, tier, to_micros(expiry), to_micros(confirmed),
                     pending, rejected)


def update(kind: str = "UPGRADE", tier: str | None = "Gold",
           expiry: datetime | None = EXPIRY, program: str = "P") -> Intent:
    return Intent(program, kind, tier, expiry)


def decide(rows: list[StoredRow], *intents: Intent, full: bool = False,
           refresh_after: timedelta | None = MONTH, now: datetime = NOW) -> Decision:
    return skip_decision(5, {r.program: r for r in rows}, intents, now=now,
                         refresh_after=refresh_after, full=full)


def test_same_tier_and_expiry_is_unchanged_and_not_sent() -> None:
    decision = decide([row()], update())
    assert (decision.send, decision.category, decision.customer_id) == (False, "unchanged", 5)


def test_expiry_equal_as_an_instant_in_another_offset_is_unchanged() -> None:
    ist = EXPIRY.astimezone(datetime.fromisoformat("2026-01-01T00:00:00+05:30").tzinfo)
    assert decide([row()], update(expiry=ist)).category == "unchanged"


@pytest.mark.parametrize("intent", [update(tier="Silver"),
                                    update(expiry=EXPIRY + timedelta(seconds=1)),
                                    update(kind="DOWNGRADE", tier="Silver")])
def test_another_tier_or_expiry_is_changed(intent: Intent) -> None:
    decision = decide([row()], intent)
    assert (decision.send, decision.category) == (True, "changed")


def test_transitions_name_the_old_and_new_tier() -> None:
    assert decide([row()], update(tier="Silver")).transitions == (("P", "Gold", "Silver"),)


def test_update_without_expiry_skips_only_when_the_confirmed_one_is_48h_away() -> None:
    assert decide([row()], update(expiry=None)).category == "unchanged"
    soon = NOW + timedelta(hours=47)
    assert decide([row(expiry=soon)], update(expiry=None)).category == "changed"
    assert decide([row(expiry=None)], update(expiry=None)).category == "changed"


def test_renew_without_expiry_is_always_sent() -> None:
    decision = decide([row()], update("RENEW", expiry=None))
    assert (decision.send, decision.category) == (True, "never")


@pytest.mark.parametrize("kind", ["MEMBERSHIP_RELINKING_CANCELLED",
                                  "MEMBERSHIP_RENEWAL_INITIATION"])
def test_relink_cancel_and_renewal_initiation_are_never_skipped(kind: str) -> None:
    assert decide([row()], update(kind)).send


def test_link_to_a_program_confirmed_linked_is_unchanged_whatever_the_reference() -> None:
    link = Intent("P", "LINK", "Platinum", None)
    assert decide([row()], link).category == "unchanged"


def test_future_dated_link_is_always_sent() -> None:
    link = Intent("P", "LINK", "Gold", EXPIRY, future=True)
    assert decide([row()], link).category == "never"


def test_link_to_a_program_not_confirmed_linked_is_sent() -> None:
    link = Intent("P", "LINK", "Gold", None)
    assert decide([row(linked=False, tier=None, expiry=None)], link).category == "changed"
    assert decide([row(linked=None)], link).category == "changed"


def test_delink_of_a_program_confirmed_not_linked_is_unchanged() -> None:
    delink = Intent("P", "DELINK", None, None)
    assert decide([row(linked=False, tier=None, expiry=None)], delink).category == "unchanged"
    assert decide([row()], delink).category == "changed"


def test_update_on_a_key_confirmed_not_linked_is_sent() -> None:
    assert decide([row(linked=False)], update()).category == "changed"


def test_a_confirmed_expiry_in_the_past_is_expired() -> None:
    past = NOW - timedelta(minutes=1)
    for intent in (update(expiry=past), update(expiry=EXPIRY), update(expiry=None)):
        decision = decide([row(expiry=past)], intent)
        assert (decision.send, decision.category) == (True, "expired")


def test_pending_key_is_never_skipped() -> None:
    decision = decide([row(pending=3)], update())
    assert (decision.send, decision.category) == (True, "pending")


def test_full_sends_everything() -> None:
    decision = decide([row()], update(), full=True)
    assert (decision.send, decision.category) == (True, "full")


def test_refresh_due_is_sent() -> None:
    old = NOW - timedelta(days=31)
    assert decide([row(confirmed=old)], update()).category == "refresh"
    assert decide([row(confirmed=old)], update(), refresh_after=None).category == "unchanged"


def test_one_changed_program_sends_the_record_whole() -> None:
    rows = [row("P"), row("Q")]
    decision = decide(rows, update(program="P"), update(program="Q", tier="Silver"))
    assert (decision.send, decision.category) == (True, "changed")
    assert decide(rows, update(program="P"), update(program="Q")).category == "unchanged"


def test_a_program_the_store_has_no_row_for_is_changed() -> None:
    assert decide([row("P")], update(program="Q")).category == "changed"


def test_a_row_never_confirmed_is_changed() -> None:
    assert decide([row(confirmed=None, linked=None, tier=None, expiry=None)],
                  update()).category == "changed"


def test_rejected_last_time_is_reported() -> None:
    assert decide([row(rejected=True)], update(tier="Silver")).rejected_last
    assert not decide([row()], update(tier="Silver")).rejected_last
