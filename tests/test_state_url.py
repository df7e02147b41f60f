"""Where the store lives (URL parsing, a password refused and never echoed), and
what a record asks of each program (intents_of, keys_of): the pure parts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from bulkupdate.source.validate import validate_line, validate_link_line
from bulkupdate.state import StateError, intents_of, keys_of
from bulkupdate.state.intent import Intent, dump_intents, load_intents
from bulkupdate.state.url import parse_url

NOW = datetime(2026, 12, 7, tzinfo=UTC)


@pytest.mark.parametrize(("url", "path"), [
    ("state.db", Path("state.db")),
    ("/var/lib/bu/state.db", Path("/var/lib/bu/state.db")),
    ("sqlite:///var/lib/bu/state.db", Path("/var/lib/bu/state.db")),
    ("sqlite://rel/state.db", Path("rel/state.db")),
])
def test_sqlite_urls_and_plain_paths(url: str, path: Path) -> None:
    where = parse_url(url)
    assert (where.kind, where.path) == ("sqlite", path)


def test_postgresql_url_without_password() -> None:
    where = parse_url("postgresql://bu@db.internal:5432/state?sslmode=require")
    assert where.kind == "postgresql"
    assert where.conninfo == "postgresql://bu@db.internal:5432/state?sslmode=require"


@pytest.mark.parametrize("url", ["postgresql://bu:hunter2@db/state",
                                 "postgres://bu:hunter2@db/state",
                                 "postgresql://bu@db/state?password=hunter2"])
def test_a_password_in_the_url_is_refused_and_never_echoed(url: str) -> None:
    with pytest.raises(StateError) as caught:
        parse_url(url)
    message = str(caught.value)
    assert "hunter2" not in message
    assert "PGPASSWORD" in message and "~/.pgpass" in message and "service file" in message


@pytest.mark.parametrize("url", ["", "mysql://x/y", "sqlite:///", "sqlite:x.db"])
def test_bad_urls_say_what_to_give(url: str) -> None:
    with pytest.raises(StateError, match=r"sqlite:///path/state\.db"):
        parse_url(url)


def test_intents_of_an_update() -> None:
    item = {"customer": {"mobile": "919740000001"}, "partnerProgramUpdates": [
        {"partnerProgramName": "P", "updateType": "UPGRADE",
         "updateDetails": {"updatedTierName": "Gold",
                           "updatedTierExpiryDate": "2027-12-29T23:59:59+05:30"}},
        {"partnerProgramName": "Q", "updateType": "MEMBERSHIP_RELINKING_CANCELLED"}]}
    expiry = datetime(2027, 12, 29, 18, 29, 59, tzinfo=UTC)
    assert intents_of("update", item) == (Intent("P", "UPGRADE", "Gold", expiry),
                                           Intent("Q", "MEMBERSHIP_RELINKING_CANCELLED",
                                                  None, None))


def test_intents_of_a_link_marks_a_future_start() -> None:
    future = (NOW + timedelta(days=3)).isoformat()
    item = {"customer": {"id": 5}, "linkToPartnerPrograms": [
        {"partnerProgramName": "P", "customerPartnerReference": {"partnerTierName": "Gold"}},
        {"partnerProgramName": "Q", "customerPartnerReference": {
            "partnerTierName": "Gold", "membershipStartDate": future}}]}
    assert intents_of("link", item, NOW) == (Intent("P", "LINK", "Gold", None),
                                             Intent("Q", "LINK", "Gold", None, future=True))


def test_intents_of_a_delink() -> None:
    item = {"customer": {"id": 5}, "deLinkFromPartnerPrograms": [{"partnerProgramName": "P"}]}
    assert intents_of("delink", item) == (Intent("P", "DELINK", None, None),)


def test_intents_survive_the_store_round_trip() -> None:
    intents = (Intent("P", "UPGRADE", "Gold", datetime(2027, 1, 1, 0, 0, 0, 123456, UTC)),
               Intent("Q", "LINK", None, None, future=True))
    assert load_intents(dump_intents(intents)) == intents


@pytest.mark.parametrize("customer", [
    {"mobile": "+919740000001", "email": " A@B.example ", "externalId": " x1 "},
    {"id": 42, "mobile": "", "email": None}])
def test_keys_of_agrees_with_validation(customer: dict[str, object]) -> None:
    line = ('{"customer": %s, "partnerProgramUpdates": [{"partnerProgramName": "P", '
            '"updateType": "RENEW", "updateDetails": {"updatedTierName": "G"}}]}')
    record = validate_line(1, (line % orjson.dumps(customer).decode()).encode(), NOW)
    link = validate_link_line(1, orjson.dumps({"customer": customer, "linkToPartnerPrograms": [
        {"partnerProgramName": "P", "customerPartnerReference": {"partnerTierName": "G"}}]}),
        NOW)
    assert keys_of(customer) == record.keys == link.keys   # type: ignore[union-attr]
