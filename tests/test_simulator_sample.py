"""The sample generator: its expected outcomes are what the simulator answers."""

from __future__ import annotations

import base64
import gzip
import hashlib
import itertools
import tracemalloc
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from bulkupdate.simulator import SimConfig, generate_sample, serve, write_sample
from bulkupdate.simulator.world import CANCEL

PATH = "/v2/partnerProgram/customerPartnerProgramUpdate"
BASIC = {"Authorization": "Basic " + base64.b64encode(
    b"demo-till:" + hashlib.md5(b"demo-pass").hexdigest().encode()).decode()}
UPDATE_TYPES = {"UPGRADE", "DOWNGRADE", "RENEW", "MEMBERSHIP_RELINKING_CANCELLED",
                "MEMBERSHIP_RENEWAL_INITIATION"}
UPD0 = "partnerProgramUpdates[0]"
INVALID_FIELDS = {"json", "utf-8", "customer", "customer.id", "ref", "partnerProgramUpdates",
                  f"{UPD0}.updateType", f"{UPD0}.updateDetails",
                  f"{UPD0}.updateDetails.updatedTierName",
                  f"{UPD0}.updateDetails.updatedTierExpiryDate"}


def batches(lines: list[tuple[bytes, dict]]) -> list[list[tuple[dict, dict]]]:
    """Valid records in file order, up to 50 a batch, never one customer twice in a batch."""
    out: list[list[tuple[dict, dict]]] = [[]]
    keys: set[Any] = set()
    for raw, expected in lines:
        if expected["outcome"] in ("blank", "invalid"):
            continue
        record = orjson.loads(raw)
        record.pop("ref", None)
        key = expected["customer"]
        if key is None:
            key = orjson.dumps(record["customer"])
        if len(out[-1]) == 50 or key in keys:
            out.append([])
            keys = set()
        out[-1].append((record, expected))
        keys.add(key)
    return out


@pytest.mark.parametrize(("relinking", "n"), [(True, 1500), (False, 700)])
async def test_expected_outcomes_are_what_the_server_answers(relinking: bool, n: int) -> None:
    config = SimConfig(customers=3000, allow_relinking=relinking, seed=5)
    lines = list(generate_sample(config, n, seed=9))
    seen = Counter()
    async with serve(config) as sim, aiohttp.ClientSession() as session:
        for batch in batches(lines):
            body = orjson.dumps({"customersPartnerUpdates": [record for record, _ in batch]})
            async with session.post(sim.base_url + PATH, data=body, headers=BASIC) as response:
                answer = orjson.loads(await response.read())
            for (record, expected), result in zip(batch, answer["customersPartnerUpdates"],
                                                  strict=True):
                got = [u["updateStatus"]["code"] for u in result["partnerProgramUpdates"]]
                assert got == expected["codes"], record
                good = sum(code == 200 for code in got)
                held = sum(u["updateStatus"]["code"] == 2027 and u["updateType"] == CANCEL
                           for u in result["partnerProgramUpdates"])
                outcome = "ok" if good == len(got) else "already" if good + held == len(got) \
                    else ("partial" if good + held else "rejected")
                assert outcome == expected["outcome"]
                seen[outcome] += 1
        stats = sim.stats()
    assert stats["overlap_violations"] == 0 and stats["duplicate_in_batch"] == 0
    assert {"ok", "partial", "rejected"} <= set(seen) <= {"ok", "already", "partial", "rejected"}


def test_the_mix_covers_every_kind_of_line() -> None:
    lines = list(generate_sample(SimConfig(customers=5000), 6000, seed=2))
    outcomes = Counter(expected["outcome"] for _, expected in lines)
    fields = Counter(expected.get("field") for _, expected in lines)
    codes = Counter(code for _, expected in lines for code in expected.get("codes", []))
    assert len(lines) == 6000
    assert outcomes["ok"] > 0.6 * len(lines)
    assert 0.005 < outcomes["blank"] / len(lines) < 0.02
    unknown_keys = set(fields) - {None} - INVALID_FIELDS
    assert set(fields) >= INVALID_FIELDS
    assert unknown_keys == {"note", "customerId", "priority"}
    assert {200, 8015, 2004, 2006, 2007, 2027, 2028} <= set(codes)
    valid = [orjson.loads(raw) for raw, e in lines if e["outcome"] in ("ok", "partial",
                                                                       "rejected")]
    assert {u["updateType"] for r in valid for u in r["partnerProgramUpdates"]} == UPDATE_TYPES
    assert {k for r in valid for k, v in r["customer"].items() if v} == {
        "id", "mobile", "email", "externalId"}
    assert {len(r["partnerProgramUpdates"]) for r in valid} == {1, 2, 3}
    # Repeated customers on neighbouring lines, so that order matters.
    customers = [e.get("customer") for _, e in lines if "customer" in e]
    assert sum(a == b and a is not None for a, b in itertools.pairwise(customers)) > 20


def test_relinking_off_gives_2026_instead_of_2028() -> None:
    codes = Counter(code for _, e in generate_sample(SimConfig(customers=5000,
                                                               allow_relinking=False), 3000)
                    for code in e.get("codes", []))
    assert codes[2026] > 0 and codes[2028] == 0


def test_refs_and_expiry_dates_look_like_the_contract() -> None:
    lines = list(itertools.islice(generate_sample(SimConfig(), 3000, seed=4), 3000))
    refs = 0
    for number, (raw, expected) in enumerate(lines, 1):
        if expected["outcome"] not in ("ok", "partial", "rejected"):
            continue
        record = orjson.loads(raw)
        if "ref" in record:
            assert record["ref"] == f"row-{number}"
            refs += 1
        for update in record["partnerProgramUpdates"]:
            expiry = (update.get("updateDetails") or {}).get("updatedTierExpiryDate")
            if expiry is not None:
                when = datetime.fromisoformat(expiry)
                assert when.tzinfo is not None and when.year >= 2027
    assert refs > 500


def test_each_invalid_line_is_broken_in_the_field_it_names() -> None:
    now = datetime.now(UTC)
    for raw, expected in generate_sample(SimConfig(customers=1000), 4000, seed=8,
                                         bad_fraction=0.6):
        if expected["outcome"] == "blank":
            assert raw.strip() == b""
            continue
        if expected["outcome"] != "invalid":
            continue
        field = expected["field"]
        if field == "utf-8":
            with pytest.raises(UnicodeDecodeError):
                raw.decode()
            continue
        raw.decode()
        if field == "json":
            with pytest.raises(orjson.JSONDecodeError):
                orjson.loads(raw)
            continue
        assert _is_broken(field, orjson.loads(raw), now), (field, raw)


def _is_broken(field: str, record: dict, now: datetime) -> bool:
    first = (record["partnerProgramUpdates"] or [{}])[0]
    details = first.get("updateDetails") or {}
    if field == "customer":
        return not any(v not in (None, "") for v in record.get("customer", {}).values())
    if field == "customer.id":
        return record["customer"]["id"] <= 0
    if field == "ref":
        return not isinstance(record["ref"], str)
    if field == "partnerProgramUpdates":
        return record["partnerProgramUpdates"] == []
    if field == f"{UPD0}.updateType":
        return first["updateType"] not in UPDATE_TYPES
    if field == f"{UPD0}.updateDetails":
        return "updateDetails" not in first
    if field == f"{UPD0}.updateDetails.updatedTierName":
        return not details.get("updatedTierName")
    if field == f"{UPD0}.updateDetails.updatedTierExpiryDate":
        value = details["updatedTierExpiryDate"]
        if "T" not in value:
            return True
        when = datetime.fromisoformat(value)
        return when.tzinfo is None or when < now
    return field in record and field not in ("customer", "partnerProgramUpdates", "ref")


def test_the_sample_is_deterministic_and_streams() -> None:
    config = SimConfig(customers=2000)
    first = list(generate_sample(config, 500, seed=3))
    assert first == list(generate_sample(config, 500, seed=3))
    assert first != list(generate_sample(config, 500, seed=4))
    # Lazy: the first lines of a 5M-line sample cost what they hold, not what the
    # whole would (measured in bytes allocated, which no busy machine changes).
    tracemalloc.start()
    try:
        head = list(itertools.islice(generate_sample(SimConfig(customers=1_000_000),
                                                     5_000_000), 100))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(head) == 100 and peak < 20 * 1024 * 1024


def test_write_sample_writes_gzip_and_expected_lines(tmp_path: Path) -> None:
    config = SimConfig(customers=1000)
    counts = write_sample(tmp_path / "in.jsonl.gz", config, 400, seed=6,
                          expected_path=tmp_path / "expected.jsonl")
    lines = gzip.decompress((tmp_path / "in.jsonl.gz").read_bytes()).split(b"\n")
    assert lines[-1] == b"" and len(lines) == 401
    expected = [orjson.loads(x) for x in (tmp_path / "expected.jsonl").read_bytes().splitlines()]
    assert [e["line"] for e in expected] == list(range(1, 401))
    assert counts == dict(Counter(e["outcome"] for e in expected))
    assert sum(counts.values()) == 400
    plain = write_sample(tmp_path / "in.jsonl", config, 400, seed=6)
    assert plain == counts
    assert (tmp_path / "in.jsonl").read_bytes() == b"\n".join(lines)
