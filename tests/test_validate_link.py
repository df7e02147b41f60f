"""validate_link_line: one item of linkCustomers → a Record or an Invalid naming the field."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from bulkupdate.errors import UsageError
from bulkupdate.source.csvfile import check_csv_header, iter_csv_records
from bulkupdate.source.validate import Invalid, Record, validate_line, validate_link_line

NOW = datetime(2026, 1, 1, tzinfo=UTC)
FUTURE = "2027-12-29T23:59:59+05:30"


def line(**top: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "customer": {"mobile": "919740000001"},
        "linkToPartnerPrograms": [{"partnerProgramName": "Apparel-Partner",
                                   "customerPartnerReference": {
                                       "partnerMembershipId": "AP-1", "partnerTierName": "Gold",
                                       "partnerTierExpiryDate": FUTURE,
                                       "membershipStartDate": "2026-01-01T00:00:00+05:30"}}]}
    record.update(top)
    return record


def reference(**fields: Any) -> dict[str, Any]:
    ref = {"partnerTierName": "Gold", **fields}
    return line(linkToPartnerPrograms=[{"partnerProgramName": "SPP_1",
                                        "customerPartnerReference": ref}])


def check(record: Any) -> Record | Invalid:
    return validate_link_line(7, orjson.dumps(record), NOW)


def test_a_full_link_item_is_a_record_whose_body_is_the_line() -> None:
    raw = orjson.dumps(line())
    record = validate_link_line(3, b"  " + raw + b"\n", NOW)
    assert isinstance(record, Record)
    assert record.body == raw and record.line == 3 and record.ref is None
    assert record.programs == [("Apparel-Partner", "LINK")]
    assert record.keys == ("mobile:919740000001",)


def test_a_ref_is_kept_out_of_the_body() -> None:
    record = check(line(ref="row-9"))
    assert isinstance(record, Record) and record.ref == "row-9"
    assert orjson.loads(record.body) == {k: v for k, v in line().items()}


def test_only_the_tier_is_required_in_the_reference() -> None:
    record = check(reference())
    assert isinstance(record, Record) and record.programs == [("SPP_1", "LINK")]


@pytest.mark.parametrize(("record", "field", "words"), [
    (line(customer=None), "customer", "missing"),
    (line(customer={"mobile": "9.19740000001E+11"}), "customer.mobile", "scientific"),
    (line(customer={"phone": "1"}), "customer.phone", "unknown identifier"),
    (line(partnerProgramUpdates=[]), "partnerProgramUpdates", "unknown top-level key"),
    (line(ref=5), "ref", "must be a string"),
    (line(linkToPartnerPrograms=None), "linkToPartnerPrograms", "missing"),
    (line(linkToPartnerPrograms=[]), "linkToPartnerPrograms", "non-empty list"),
    (line(linkToPartnerPrograms=["SPP_1"]), "linkToPartnerPrograms[0]", "must be an object"),
    (line(linkToPartnerPrograms=[{"customerPartnerReference": {"partnerTierName": "Gold"}}]),
     "linkToPartnerPrograms[0].partnerProgramName", "2002"),
    (line(linkToPartnerPrograms=[{"partnerProgramName": "SPP_1"}]),
     "linkToPartnerPrograms[0].customerPartnerReference", "2002"),
    (line(linkToPartnerPrograms=[{"partnerProgramName": "SPP_1", "updateType": "UPGRADE",
                                  "customerPartnerReference": {"partnerTierName": "Gold"}}]),
     "linkToPartnerPrograms[0].updateType", "unknown key"),
    (line(linkToPartnerPrograms=[{"partnerProgramName": "SPP_1", "customerPartnerReference": {
        "partnerTierName": "Gold"}}] * 2), "linkToPartnerPrograms[1].partnerProgramName",
     "listed twice"),
    (reference(partnerTierName=""), "customerPartnerReference.partnerTierName", "2002"),
    (reference(partnerTierName=None), "customerPartnerReference.partnerTierName", "2002"),
    (reference(updatedTierName="Gold"), "customerPartnerReference.updatedTierName",
     "unknown key"),
    (reference(partnerMembershipId=12), "customerPartnerReference.partnerMembershipId",
     "must be a string"),
    (reference(partnerTierExpiryDate="2020-01-01T00:00:00Z"),
     "customerPartnerReference.partnerTierExpiryDate", "in the past"),
    (reference(partnerTierExpiryDate="2027-12-29"),
     "customerPartnerReference.partnerTierExpiryDate", "has no time"),
    (reference(partnerTierExpiryDate="2027-12-29T23:59:59"),
     "customerPartnerReference.partnerTierExpiryDate", "no UTC offset"),
    (reference(membershipStartDate="2027-12-29T23:59:59"),
     "customerPartnerReference.membershipStartDate", "no UTC offset"),
    (reference(membershipStartDate="next monday"),
     "customerPartnerReference.membershipStartDate", "not an ISO 8601"),
    (reference(membershipStartDate=20270101), "customerPartnerReference.membershipStartDate",
     "must be an ISO 8601 date-time string"),
    ([line()], "json", "a record is a JSON object"),
])
def test_each_mistake_names_its_field(record: Any, field: str, words: str) -> None:
    result = check(record)
    assert isinstance(result, Invalid), result
    assert result.field.endswith(field) and words in result.error, result
    assert result.line == 7


def test_a_past_start_date_is_a_backdated_membership_not_a_mistake() -> None:
    past = check(reference(membershipStartDate="2019-04-01T00:00:00+05:30"))
    assert isinstance(past, Record) and not past.once


def test_a_future_start_date_makes_a_record_that_is_sent_once_when_its_fate_is_unknown() -> None:
    future = check(reference(membershipStartDate="2031-04-01T00:00:00+05:30"))
    assert isinstance(future, Record) and future.once


def test_bytes_that_are_not_json_or_not_utf8_are_named_as_for_updates() -> None:
    for raw in (b"{nope", b'{"customer": "caf\xe9"}'):
        link, update = validate_link_line(2, raw, NOW), validate_line(2, raw, NOW)
        assert isinstance(link, Invalid) and link == update


def test_an_update_line_is_not_a_link_line() -> None:
    update = {"customer": {"id": 100001}, "partnerProgramUpdates": [
        {"partnerProgramName": "SPP_1", "updateType": "MEMBERSHIP_RELINKING_CANCELLED"}]}
    result = check(update)
    assert isinstance(result, Invalid) and result.field == "partnerProgramUpdates"


def test_csv_rows_of_one_customer_form_one_link_item(tmp_path: Path) -> None:
    path = tmp_path / "links.csv"
    path.write_text("mobile,ref,partnerProgramName,partnerMembershipId,partnerTierName,"
                    "partnerTierExpiryDate,membershipStartDate\n"
                    f"919740000001,a,Apparel-Partner,AP-1,Gold,{FUTURE},\n"
                    f"919740000001,a,SPP_1,,Basic,,{FUTURE}\n"
                    "919740000002,,Dining-Partner,,,,\n")
    (first, raw1), (second, raw2) = iter_csv_records(path, api="link")
    assert (first, second) == (2, 4)
    record = validate_link_line(first, raw1, NOW)
    assert isinstance(record, Record) and record.ref == "a"
    assert record.programs == [("Apparel-Partner", "LINK"), ("SPP_1", "LINK")]
    assert orjson.loads(record.body)["linkToPartnerPrograms"][1] == {
        "partnerProgramName": "SPP_1", "customerPartnerReference": {
            "partnerTierName": "Basic", "membershipStartDate": FUTURE}}
    missing = validate_link_line(second, raw2, NOW)
    assert isinstance(missing, Invalid) and missing.field.endswith("partnerTierName")


def test_a_link_csv_refuses_update_columns(tmp_path: Path) -> None:
    path = tmp_path / "links.csv"
    path.write_text("id,partnerProgramName,updateType\n1,A,UPGRADE\n")
    with pytest.raises(UsageError, match="updateType"):
        check_csv_header(path, api="link")
    check_csv_header(path)   # an update CSV it is
