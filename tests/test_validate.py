"""validate.py: every rule of the contract, by the field it names."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkupdate.source.validate import (
    UPDATE_TYPES,
    Invalid,
    Record,
    SeenPrograms,
    validate_line,
    validator,
)

NOW = datetime(2026, 11, 25, tzinfo=UTC)
GOOD = {"customer": {"mobile": "919740000000"},
        "partnerProgramUpdates": [{"partnerProgramName": "Apparel-Partner",
                                   "updateType": "UPGRADE",
                                   "updateDetails": {"updatedTierName": "Silver",
                                                     "updatedTierExpiryDate":
                                                         "2027-12-29T23:59:59+05:30"}}]}


def check(obj: object, line: int = 3) -> Record | Invalid:
    raw = obj if isinstance(obj, bytes) else orjson.dumps(obj)
    return validate_line(line, raw, NOW)


def with_update(**changes: object) -> dict:
    update = {**GOOD["partnerProgramUpdates"][0], **changes}
    update = {k: v for k, v in update.items() if v is not None}
    return {**GOOD, "partnerProgramUpdates": [update]}


def with_details(**changes: object) -> dict:
    details = {**GOOD["partnerProgramUpdates"][0]["updateDetails"], **changes}
    return with_update(updateDetails={k: v for k, v in details.items() if v is not None})


def test_good_record_keeps_its_own_bytes_as_the_body() -> None:
    raw = orjson.dumps(GOOD)
    record = validate_line(7, raw, NOW)
    assert isinstance(record, Record)
    assert record.body == raw
    assert record.line == 7
    assert record.keys == ("mobile:919740000000",)
    assert record.programs == [("Apparel-Partner", "UPGRADE")]


def test_ref_is_kept_for_the_ledger_and_never_sent() -> None:
    record = check({**GOOD, "ref": "row-17"})
    assert isinstance(record, Record)
    assert record.ref == "row-17"
    assert b"ref" not in record.body
    assert orjson.loads(record.body) == GOOD


@pytest.mark.parametrize("update_type", UPDATE_TYPES)
def test_every_update_type_is_accepted(update_type: str) -> None:
    obj = with_update(updateType=update_type)
    if update_type == "MEMBERSHIP_RELINKING_CANCELLED":
        obj = with_update(updateType=update_type, updateDetails=None)
    assert isinstance(check(obj), Record)


@pytest.mark.parametrize(("obj", "field"), [
    (b'{"customer": ', "json"),
    (b'{"customer": {"mobile": "\xff\xfe"}}', "utf-8"),
    (b"[1, 2]", "json"),
    ({**GOOD, "extra": 1}, "extra"),
    ({**GOOD, "ref": 17}, "ref"),
    ({"partnerProgramUpdates": GOOD["partnerProgramUpdates"]}, "customer"),
    ({**GOOD, "customer": {}}, "customer"),
    ({**GOOD, "customer": {"email": "", "mobile": None}}, "customer"),
    ({**GOOD, "customer": {"id": -4}}, "customer.id"),
    ({**GOOD, "customer": {"id": "12"}}, "customer.id"),
    ({**GOOD, "customer": {"id": True}}, "customer.id"),
    ({**GOOD, "customer": {"mobile": 919740000000}}, "customer.mobile"),
    ({**GOOD, "customer": {"phone": "1"}}, "customer.phone"),
    ({**GOOD, "partnerProgramUpdates": []}, "partnerProgramUpdates"),
    ({**GOOD, "partnerProgramUpdates": {}}, "partnerProgramUpdates"),
    ({"customer": {"id": 5}}, "partnerProgramUpdates"),
    (with_update(partnerProgramName=""), "partnerProgramUpdates[0].partnerProgramName"),
    (with_update(updateType="UPGRAD"), "partnerProgramUpdates[0].updateType"),
    (with_update(updateDetails=None), "partnerProgramUpdates[0].updateDetails"),
    (with_update(colour="red"), "partnerProgramUpdates[0].colour"),
    (with_details(updatedTierName=None),
     "partnerProgramUpdates[0].updateDetails.updatedTierName"),
    (with_details(updatedTierName=""),
     "partnerProgramUpdates[0].updateDetails.updatedTierName"),
    (with_details(updatedTierExpiryDate="2020-01-01T00:00:00Z"),
     "partnerProgramUpdates[0].updateDetails.updatedTierExpiryDate"),
    (with_details(updatedTierExpiryDate="2027-12-29"),
     "partnerProgramUpdates[0].updateDetails.updatedTierExpiryDate"),
    (with_details(updatedTierExpiryDate="2027-12-29T23:59:59"),
     "partnerProgramUpdates[0].updateDetails.updatedTierExpiryDate"),
    (with_details(updatedTierExpiryDate="next tuesday"),
     "partnerProgramUpdates[0].updateDetails.updatedTierExpiryDate"),
    (with_details(updatedTierExpiryDate=20271229),
     "partnerProgramUpdates[0].updateDetails.updatedTierExpiryDate"),
])
def test_invalid_record_names_line_and_field(obj: object, field: str) -> None:
    result = check(obj, line=42)
    assert isinstance(result, Invalid), result
    assert result.line == 42
    assert result.field == field
    assert result.describe().startswith(f"line 42: {field}: ")


def test_second_update_is_named_by_its_index() -> None:
    obj = {**GOOD, "partnerProgramUpdates": [GOOD["partnerProgramUpdates"][0],
                                             {"partnerProgramName": "P", "updateType": "X"}]}
    result = check(obj)
    assert isinstance(result, Invalid)
    assert result.field == "partnerProgramUpdates[1].updateType"


def test_invalid_record_keeps_its_ref() -> None:
    result = check({**with_update(updateType="NOPE"), "ref": "r-1"})
    assert isinstance(result, Invalid)
    assert result.ref == "r-1"


def test_z_offset_and_empty_identifiers_are_fine() -> None:
    obj = {**with_details(updatedTierExpiryDate="2027-01-01T00:00:00Z"),
           "customer": {"mobile": "919740000000", "email": "", "externalId": ""}}
    assert isinstance(check(obj), Record)


def test_several_identifiers_give_several_keys() -> None:
    record = check({**GOOD, "customer": {"id": 9, "email": "A@X.com", "externalId": "E1"}})
    assert isinstance(record, Record)
    assert record.keys == ("id:9", "email:a@x.com", "externalId:E1")


@given(st.binary(max_size=200))
def test_any_bytes_give_a_record_or_an_invalid_never_an_exception(raw: bytes) -> None:
    result = validate_line(1, raw, NOW)
    assert isinstance(result, Record | Invalid)


INT64 = st.integers(-(2**63), 2**63 - 1)


@given(st.recursive(st.none() | st.booleans() | INT64 | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.sampled_from(["customer", "partnerProgramUpdates",
                                                       "ref", "mobile", "id", "updateType",
                                                       "updateDetails", "partnerProgramName"]),
                                      inner, max_size=4), max_leaves=12))
def test_any_json_value_is_classified(value: object) -> None:
    result = validate_line(1, orjson.dumps(value), NOW)
    assert isinstance(result, Record | Invalid)


@pytest.mark.parametrize(("value", "says"), [
    ("2027-12-29 23:59:59", "lacks the 'T' between date and time and a UTC offset"),
    ("2027-12-29 23:59:59+05:30", "lacks the 'T' between date and time: use"),
    ("2027-12-29", "has no time"),
])
def test_expiry_without_its_t_says_what_it_lacks(value: str, says: str) -> None:
    bad = check(with_details(updatedTierExpiryDate=value))
    assert isinstance(bad, Invalid) and says in bad.error
    assert bad.field.endswith("updatedTierExpiryDate")


@pytest.mark.parametrize(("mobile", "shape"), [
    ("9.19700000123E+11", "scientific notation"), ("9.19700000123e11", "scientific notation"),
    ("+91 97400 00000", "spaces or dots"), ("919.740.000.000", "spaces or dots"),
    ("91\u00a09740000000", "spaces or dots"),
])
def test_a_mobile_a_spreadsheet_reformatted_is_invalid_with_the_fix(mobile: str,
                                                                     shape: str) -> None:
    got = check({**GOOD, "customer": {"mobile": mobile}})
    assert isinstance(got, Invalid) and got.field == "customer.mobile"
    assert shape in got.error and "format the column as text" in got.error
    assert mobile not in got.error     # personal data: the line number finds it


@pytest.mark.parametrize("mobile", ["919740000000", "+919740000000", " 919740000000 "])
def test_a_mobile_of_digits_is_valid(mobile: str) -> None:
    assert isinstance(check({**GOOD, "customer": {"mobile": mobile}}), Record)


@pytest.mark.parametrize(("raw", "encoding"), [
    ('{"customer": {"externalId": "Caf\u00e9 \u201cA\u201d"}}'.encode("cp1252"), "Windows-1252"),
    ('{"customer": {"externalId": "Caf\u00e9"}}'.encode("latin-1"), "Latin-1"),
    ('{"customer": {"externalId": "A"}}'.encode("utf-16-le"), "UTF-16"),
])
def test_a_line_not_in_utf8_names_the_likely_encoding(raw: bytes, encoding: str) -> None:
    got = check(raw)
    assert isinstance(got, Invalid) and got.field == "utf-8"
    assert encoding in got.error and "save it as UTF-8" in got.error


# Lines alike in their program updates are checked once (SeenPrograms, issue 22):
# by a validator of the update API's, which remembers for as long as it is kept.
GOLD = [{"partnerProgramName": "A", "updateType": "UPGRADE",
         "updateDetails": {"updatedTierName": "Gold",
                           "updatedTierExpiryDate": "2027-06-30T23:59:59+05:30"}}]


def _raw(**item: object) -> bytes:
    return orjson.dumps(item)


def test_lines_alike_in_their_updates_share_one_check_and_keep_their_own_customer() -> None:
    seen = SeenPrograms()
    validate = seen.validate
    first = validate(1, _raw(customer={"id": 1}, partnerProgramUpdates=GOLD), NOW)
    second = validate(2, _raw(customer={"mobile": "919740000002"},
                              partnerProgramUpdates=GOLD), NOW)
    assert isinstance(first, Record) and isinstance(second, Record)
    assert second.programs is first.programs and second.keys == ("mobile:919740000002",)
    again = _raw(customer={"id": 4}, partnerProgramUpdates=GOLD)   # parsed up to its tail
    assert seen.parse(again, NOW)["partnerProgramUpdates"] is \
        seen.parse(again, NOW)["partnerProgramUpdates"]
    bad = validate(3, _raw(customer={"id": -3}, partnerProgramUpdates=GOLD), NOW)
    assert isinstance(bad, Invalid) and bad.field == "customer.id"
    other = validator("update")(4, _raw(customer={"id": 4}, partnerProgramUpdates=GOLD), NOW)
    assert isinstance(other, Record) and other.programs is not first.programs   # its own


def test_a_later_now_checks_the_same_updates_again() -> None:
    validate = validator("update")
    assert isinstance(validate(1, _raw(customer={"id": 1}, partnerProgramUpdates=GOLD), NOW),
                      Record)
    later = datetime(2027, 7, 1, tzinfo=UTC)   # the expiry is past by then
    again = validate(2, _raw(customer={"id": 2}, partnerProgramUpdates=GOLD), later)
    assert isinstance(again, Invalid) and "in the past" in again.error


def test_a_tail_that_is_not_the_last_member_is_never_taken_for_one() -> None:
    """``error`` (accepted, ignored) may hold anything, even the key: a line whose
    last ``"partnerProgramUpdates":`` is inside it must still have its own checked."""
    validate = validator("update")
    decoy = {"partnerProgramUpdates": GOLD}
    good = b'{"customer":{"id":1},"error":1,"partnerProgramUpdates":' + orjson.dumps(GOLD) + \
        b',"error":' + orjson.dumps(decoy) + b"}"
    assert isinstance(validate(1, good, NOW), Record)
    bad_updates = [{**GOLD[0], "updateType": "SIDEWAYS"}]
    bad = b'{"customer":{"id":2},"error":1,"partnerProgramUpdates":' + \
        orjson.dumps(bad_updates) + b',"error":' + orjson.dumps(decoy) + b"}"
    got = validate(2, bad, NOW)
    assert isinstance(got, Invalid) and got.field == "partnerProgramUpdates[0].updateType"


def test_a_key_given_twice_is_judged_by_the_value_json_keeps() -> None:
    validate = validator("update")
    bad_first = b'{"customer":{"id":1},"partnerProgramUpdates":[{"x":1}],' \
        b'"partnerProgramUpdates":' + orjson.dumps(GOLD) + b"}"
    assert isinstance(validate(1, bad_first, NOW), Record)   # the last one counts
    good_first = b'{"customer":{"id":1},"partnerProgramUpdates":' + orjson.dumps(GOLD) + \
        b',"partnerProgramUpdates":[{"x":1}]}'
    assert isinstance(validate(2, good_first, NOW), Invalid)


def test_what_is_remembered_is_bounded() -> None:
    seen = SeenPrograms(limit=3)
    for i in range(10):
        updates = [{**GOLD[0], "updateDetails": {"updatedTierName": f"T{i}"}}]
        raw = _raw(customer={"id": 1}, partnerProgramUpdates=updates)
        assert seen.checked(raw, orjson.loads(raw), NOW) == [("A", "UPGRADE")]
        assert len(seen._seen) <= 3


def _reference(line: int, raw: bytes, now: datetime) -> Record | Invalid:
    """A validator without anything remembered: every line parsed and checked whole."""
    from bulkupdate.source import validate as v

    def check(line: int, raw: bytes, data: dict, ref: str | None, now: datetime) -> Record:
        v._top(data, v.TOP_KEYS, "partnerProgramUpdates")
        customer, keys = v._customer(data.get("customer"))
        programs = v._updates(data.get("partnerProgramUpdates"), now)
        return Record(line, v._body(raw, data, customer, "partnerProgramUpdates"), customer,
                      programs, keys, ref)
    return v._validated(line, raw, now, check)


def _fields(item: Record | Invalid) -> tuple:
    if isinstance(item, Invalid):
        return ("invalid", item)
    return (item.line, item.body, item.customer, item.programs, item.keys, item.ref)


_UPDATES = st.sampled_from([
    GOLD, GOLD * 2, [{**GOLD[0], "updateType": "SIDEWAYS"}],
    [{"partnerProgramName": "B", "updateType": "RENEW", "updateDetails": {
        "updatedTierName": "Silver", "updatedTierExpiryDate": "2020-01-01T00:00:00Z"}}],
    [{"partnerProgramName": "C", "updateType": "UPGRADE",
      "updateDetails": {"updatedTierName": "Gold"}}]])
_MEMBERS = st.fixed_dictionaries(
    {"customer": st.one_of(st.fixed_dictionaries({"id": st.sampled_from([7, -1, "7"])}),
                           st.fixed_dictionaries({"mobile": st.sampled_from(
                               ["919740000001", "9.197E+11", ""])}), st.just("x"))},
    optional={"ref": st.sampled_from(["r-1", 5]), "error": st.just("old"),
              "zzz": st.just(1)})


KEPT = validator("update")   # one validator for every example: tails seen before come back


@settings(max_examples=500)
@given(members=_MEMBERS, updates=_UPDATES, last=st.booleans(), spaced=st.booleans(),
       line=st.integers(1, 10))
def test_a_line_whose_updates_are_known_validates_as_one_read_whole(
        members: dict, updates: list, last: bool, spaced: bool, line: int) -> None:
    import json
    item = {**members, "partnerProgramUpdates": updates} if last else \
        {"partnerProgramUpdates": updates, **members}
    raw = json.dumps(item).encode() if spaced else orjson.dumps(item)
    for n in (line, line + 1):            # the second time, its tail is known (if ever)
        assert _fields(KEPT(n, raw, NOW)) == _fields(_reference(n, raw, NOW))
