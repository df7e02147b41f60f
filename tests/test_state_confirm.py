"""What a result confirms (issue 21, point 2), and that it agrees with the skip
rule: the same record sent again after its own confirmation is unchanged, and
any other record is sent. Pure: no store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bulkupdate.state.confirm import Known, confirmed
from bulkupdate.state.intent import Intent, to_micros
from bulkupdate.state.skip import Clock, StoredRow, decide_customer

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
CLOCK = Clock.of(NOW, timedelta(days=30), False)
NOTHING = Known(None, None, None)
OK = {"ok": True, "code": 1000}

tiers = st.sampled_from(["Gold", "Silver", "Bronze"])
expiries = st.one_of(st.none(), st.integers(3, 800).map(lambda d: NOW + timedelta(days=d)))
kinds = st.sampled_from(["UPGRADE", "DOWNGRADE", "RENEW"])


def row_after(known: Known) -> StoredRow:
    """The row a confirmation leaves, confirmed just now."""
    micros = to_micros(NOW)
    return StoredRow("P", 1, known.linked, known.tier, known.expiry, micros, None)


@given(kinds, tiers, expiries)
def test_an_update_confirmed_then_sent_again_is_unchanged_unless_renew_without_expiry(
        kind: str, tier: str, expiry: datetime | None) -> None:
    intent = Intent("P", kind, tier, expiry)
    before = Known(True, tier, to_micros(NOW + timedelta(days=400)))
    known = confirmed(intent, OK, before)
    assert known is not None
    category = decide_customer(5, {"P": row_after(known)}, (intent,), CLOCK).category
    assert category == ("never" if kind == "RENEW" and expiry is None else "unchanged")


@given(kinds, tiers, expiries, tiers, expiries)
def test_any_other_tier_or_expiry_is_sent(kind: str, tier: str, expiry: datetime | None,
                                         other_tier: str, other_expiry: datetime | None) -> None:
    known = confirmed(Intent("P", kind, tier, expiry), OK, NOTHING)
    assert known is not None
    second = Intent("P", kind, other_tier, other_expiry)
    decision = decide_customer(5, {"P": row_after(known)}, (second,), CLOCK)
    same = other_tier == tier and (other_expiry == expiry if other_expiry is not None
                                   else expiry is not None and kind != "RENEW")
    assert decision.send != same


def test_only_ok_confirms_an_update() -> None:
    intent = Intent("P", "UPGRADE", "Gold", None)
    for program in ({"ok": False, "code": 8015}, {"ok": False, "code": None}, {}):
        assert confirmed(intent, program, NOTHING) is None


def test_link_2005_confirms_linked_keeping_a_known_tier() -> None:
    link = Intent("P", "LINK", "Gold", None)
    refused = {"ok": False, "code": 2005}
    assert confirmed(link, refused, NOTHING) == Known(True, None, None)
    assert confirmed(link, refused, Known(True, "Silver", 9)) == Known(True, "Silver", 9)
    assert confirmed(link, {"ok": False, "code": 2002}, NOTHING) is None


def test_delink_ok_or_2004_confirms_not_linked() -> None:
    delink = Intent("P", "DELINK", None, None)
    for program in (OK, {"ok": False, "code": 2004}):
        assert confirmed(delink, program, Known(True, "Gold", 9)) == Known(False, None, None)


def test_a_future_link_confirms_nothing_known() -> None:
    link = Intent("P", "LINK", "Gold", None, future=True)
    assert confirmed(link, OK, Known(True, "Silver", 9)) == NOTHING


def test_an_update_without_expiry_keeps_the_expiry_only_when_the_tier_stays() -> None:
    before = Known(True, "Gold", 99)
    assert confirmed(Intent("P", "RENEW", "Gold", None), OK, before) == before
    assert confirmed(Intent("P", "UPGRADE", "Platinum", None), OK, before) == \
        Known(True, "Platinum", None)


def test_relink_cancel_keeps_the_state_and_renewal_initiation_forgets_tier_and_expiry() -> None:
    before = Known(True, "Gold", 99)
    assert confirmed(Intent("P", "MEMBERSHIP_RELINKING_CANCELLED", None, None), OK,
                     before) == before
    assert confirmed(Intent("P", "MEMBERSHIP_RENEWAL_INITIATION", "Gold", None), OK,
                     before) == Known(True, None, None)
