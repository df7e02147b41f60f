"""The state store on both backends (SQLite, and a real PostgreSQL the tests
start): confirmed only by the ledger, pending never skipped, the latest writer
wins, replay after a torn line, forget, import, scope, lease, file mode."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from bulkupdate.rundir.files import MANIFEST, RESULTS, write_json_atomic
from bulkupdate.rundir.manifest import new_manifest
from bulkupdate.source.lines import fingerprint
from bulkupdate.state import StateError, Store, command, intents_of, keys_of, open_store
from tests.helpers import wait_until

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
EXPIRY = "2027-12-29T23:59:59+05:30"
MONTH = timedelta(days=30)
SCOPE = "https://api.example/v2 till:demo"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "store" / "state.db")
    return str(request.getfixturevalue("postgres").new_database())


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    opened = open_store(url, scope=SCOPE)
    yield opened
    opened.close()


def item(customer: dict[str, Any], tier: str = "Gold", expiry: str | None = EXPIRY,
         program: str = "P", kind: str = "UPGRADE") -> dict[str, Any]:
    details: dict[str, Any] = {"updatedTierName": tier}
    if expiry:
        details["updatedTierExpiryDate"] = expiry
    return {"customer": customer, "partnerProgramUpdates": [
        {"partnerProgramName": program, "updateType": kind, "updateDetails": details}]}


def entry(data: dict[str, Any]) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    return keys_of(data["customer"]), intents_of("update", data)


def result(line: int, data: dict[str, Any], cid: int | None, ok: bool = True,
           code: int | None = 1000, outcome: str | None = None) -> dict[str, Any]:
    programs = [{"partnerProgramName": u["partnerProgramName"], "updateType": u["updateType"],
                 "ok": ok, "code": code, "message": ""} for u in data["partnerProgramUpdates"]]
    return {"line": line, "ref": None, "outcome": outcome or ("ok" if ok else "rejected"),
            "customer": data["customer"], "customerId": cid, "attempts": 1,
            "programs": programs}


class Night:
    """One run against the store, the way the engine drives it: classify, mark
    what goes out pending, append results to results.jsonl, apply them."""

    def __init__(self, store: Store, root: Path, name: str, now: datetime = NOW) -> None:
        self.store, self.now = store, now
        self.dir = root / name
        self.dir.mkdir(parents=True)
        self.results = self.dir / RESULTS
        self.run_id = name
        store.begin_run(name, self.dir, "update", now=now)

    def classify(self, *items: dict[str, Any], full: bool = False) -> list[str]:
        return [d.category for d in self.store.classify([entry(i) for i in items], now=self.now,
                                                        refresh_after=MONTH, full=full)]

    def send(self, *lines: tuple[int, dict[str, Any]]) -> None:
        self.store.mark_pending(self.run_id, [(n, *entry(i)) for n, i in lines])

    def answer(self, *results: dict[str, Any], torn: bytes = b"") -> int:
        with self.results.open("ab") as fh:
            fh.write(b"".join(orjson.dumps(r) + b"\n" for r in results) + torn)
        return self.store.apply_results(self.run_id, self.results, now=self.now)

    def end(self) -> None:
        self.store.end_run(self.run_id, now=self.now)


def confirm(store: Store, root: Path, name: str, *pairs: tuple[dict[str, Any], int]) -> Night:
    night = Night(store, root, name)
    night.send(*((n, data) for n, (data, _) in enumerate(pairs, 1)))
    night.answer(*(result(n, data, cid) for n, (data, cid) in enumerate(pairs, 1)))
    night.end()
    return night


ANN = {"mobile": "919740000001"}


def test_new_then_confirmed_then_unchanged(store: Store, tmp_path: Path) -> None:
    night = Night(store, tmp_path, "n1")
    assert night.classify(item(ANN)) == ["new"]
    night.send((1, item(ANN)))
    assert night.answer(result(1, item(ANN), 77)) == 1
    night.end()
    night2 = Night(store, tmp_path, "n2")
    assert night2.classify(item(ANN), item(ANN, "Silver")) == ["unchanged", "changed"]
    decision = store.classify([entry(item(ANN, "Silver"))], now=NOW, refresh_after=MONTH,
                              full=False)[0]
    assert decision.customer_id == 77 and decision.transitions == (("P", "Gold", "Silver"),)


@pytest.mark.parametrize(("ok", "code", "outcome"), [(False, 8015, "rejected"),
                                                     (False, None, "retryable"),
                                                     (False, 2010, "rejected")])
def test_only_ok_confirms_any_other_end_stays_pending(store: Store, tmp_path: Path, ok: bool,
                                                      code: int | None, outcome: str) -> None:
    confirm(store, tmp_path, "n1", (item(ANN), 77))
    night = Night(store, tmp_path, "n2")
    night.send((1, item(ANN, "Silver")))
    night.answer(result(1, item(ANN, "Silver"), 77, ok=ok, code=code, outcome=outcome))
    night.end()
    night3 = Night(store, tmp_path, "n3")
    assert night3.classify(item(ANN), item(ANN, "Silver")) == ["pending", "pending"]
    decision = store.classify([entry(item(ANN, "Silver"))], now=NOW, refresh_after=MONTH,
                              full=False)[0]
    assert decision.rejected_last == (outcome == "rejected")


def test_a_pending_key_is_never_skipped_even_without_any_result(store: Store,
                                                               tmp_path: Path) -> None:
    confirm(store, tmp_path, "n1", (item(ANN), 77))
    night = Night(store, tmp_path, "n2")
    night.send((1, item(ANN)))     # killed before any answer
    store.close()
    reopened = open_store(store.url if "://" in store.url else str(store.where.path),
                          scope=SCOPE)
    try:
        assert [d.category for d in reopened.classify([entry(item(ANN))], now=NOW,
                                                      refresh_after=MONTH, full=False)] \
            == ["pending"]
    finally:
        reopened.close()


def test_the_latest_writer_wins_over_an_older_runs_verify_and_replay(store: Store,
                                                                    tmp_path: Path) -> None:
    old = Night(store, tmp_path, "old")
    old.send((1, item(ANN)))
    old.end()                                   # its answer is written later
    confirm(store, tmp_path, "new", (item(ANN, "Silver"), 77))
    old.answer(result(1, item(ANN), 77))        # replayed after the newer run
    store.confirm_verified("old", keys_of(ANN), 77, intents_of("update", item(ANN)), now=NOW)
    night = Night(store, tmp_path, "n3")
    assert night.classify(item(ANN, "Silver"), item(ANN)) == ["unchanged", "changed"]


def test_replay_applies_only_complete_lines_and_is_idempotent(store: Store,
                                                             tmp_path: Path) -> None:
    bob = {"email": "bob@example.com"}
    night = Night(store, tmp_path, "n1")
    night.send((1, item(ANN)), (2, item(bob)))
    whole = orjson.dumps(result(2, item(bob), 78)) + b"\n"
    assert night.answer(result(1, item(ANN), 77), torn=whole[:40]) == 1
    night.end()
    check = Night(store, tmp_path, "check")
    assert check.classify(item(ANN), item(bob)) == ["unchanged", "new"]
    with night.results.open("ab") as fh:
        fh.write(whole[40:])
    assert store.replay_all(now=NOW) == 1
    assert store.replay_all(now=NOW) == 0
    assert store.apply_results("n1", night.results, now=NOW) == 0
    assert check.classify(item(ANN), item(bob)) == ["unchanged", "unchanged"]


def test_identifiers_become_aliases_of_the_id_the_answer_names(store: Store,
                                                              tmp_path: Path) -> None:
    ext = {"externalId": "X-1"}
    confirm(store, tmp_path, "n1", (item(ANN), 77))
    night = Night(store, tmp_path, "n2")
    assert night.classify(item(ext)) == ["new"]
    night.send((1, item(ext)))
    night.answer(result(1, item(ext), 77))
    night.end()
    night3 = Night(store, tmp_path, "n3")
    assert night3.classify(item(ANN, "Silver"), item(ext), item({**ANN, **ext})) == \
        ["changed", "unchanged", "unchanged"]


def test_identifiers_of_two_customers_or_one_unknown_are_sent(store: Store,
                                                             tmp_path: Path) -> None:
    bob = {"email": "bob@example.com"}
    confirm(store, tmp_path, "n1", (item(ANN), 77), (item(bob), 78))
    night = Night(store, tmp_path, "n2")
    assert night.classify(item({**ANN, **bob}), item({**ANN, "externalId": "new"})) == \
        ["ambiguous", "ambiguous"]


def test_a_request_sent_before_the_id_was_known_stays_pending(store: Store,
                                                             tmp_path: Path) -> None:
    night = Night(store, tmp_path, "n1")
    night.send((1, item(ANN)))          # never answered
    night.end()
    both = {**ANN, "externalId": "X-1"}
    confirm(store, tmp_path, "n2", (item(both, program="Q"), 77))   # teaches mobile → 77
    night3 = Night(store, tmp_path, "n3")
    assert night3.classify(item(ANN), item(both), item(ANN, program="Q")) == \
        ["pending", "pending", "unchanged"]


def test_a_later_confirmation_of_the_same_key_settles_an_earlier_doubt(store: Store,
                                                                      tmp_path: Path) -> None:
    night = Night(store, tmp_path, "n1")
    night.send((1, item(ANN)))          # never answered
    night.end()
    confirm(store, tmp_path, "n2", (item({"externalId": "X-1", **ANN}), 77))
    night3 = Night(store, tmp_path, "n3")
    assert night3.classify(item(ANN)) == ["unchanged"]


def test_link_2005_confirms_linked_and_delink_2004_not_linked(store: Store,
                                                              tmp_path: Path) -> None:
    link = {"customer": ANN, "linkToPartnerPrograms": [
        {"partnerProgramName": "P", "customerPartnerReference": {"partnerTierName": "Gold"}}]}
    delink = {"customer": ANN, "deLinkFromPartnerPrograms": [{"partnerProgramName": "P"}]}
    night = Night(store, tmp_path, "n1")
    keys = keys_of(ANN)
    store.mark_pending("n1", [(1, keys, intents_of("link", link, NOW))])
    answer = {"line": 1, "outcome": "rejected", "customer": ANN, "customerId": 77, "programs": [
        {"partnerProgramName": "P", "updateType": "LINK", "ok": False, "code": 2005}]}
    night.answer(answer)

    def category(api: str, data: dict[str, Any]) -> str:
        return store.classify([(keys, intents_of(api, data, NOW))], now=NOW,
                              refresh_after=MONTH, full=False)[0].category

    assert (category("link", link), category("update", item(ANN))) == ("unchanged", "changed")
    store.mark_pending("n1", [(2, keys, intents_of("delink", delink))])
    night.answer({**answer, "line": 2, "programs": [
        {"partnerProgramName": "P", "updateType": "DELINK", "ok": False, "code": 2004}]})
    assert (category("delink", delink), category("link", link)) == ("unchanged", "changed")


def test_absent_counts_confirmed_linked_keys_tonight_did_not_name(store: Store,
                                                                 tmp_path: Path) -> None:
    people = [({"mobile": f"91974000000{i}"}, 70 + i) for i in range(4)]
    confirm(store, tmp_path, "n1", *((item(c), cid) for c, cid in people))
    night = Night(store, tmp_path, "n2")
    night.classify(*(item(c) for c, _ in people[:3]))
    assert store.absent() == {"P": 1}


def test_forget_a_customer_by_any_identifier_or_id(store: Store, tmp_path: Path) -> None:
    bob = {"email": "bob@example.com"}
    confirm(store, tmp_path, "n1", (item(ANN), 77), (item(bob), 78))
    assert store.forget_customer("mobile:919740000001") > 0
    assert store.forget_customer("78") > 0
    assert store.forget_customer("id:12345") == 0
    night = Night(store, tmp_path, "n2")
    assert night.classify(item(ANN), item(bob)) == ["new", "new"]
    assert store.summary()["keys"] == 0 and store.summary()["customers"] == 0
    if store.where.path is not None:   # SQLite: not a byte of them left in the files
        for each in store.where.path.parent.iterdir():
            assert b"919740000001" not in each.read_bytes(), each


def test_forget_a_program_and_keys_confirmed_before_a_date(store: Store,
                                                           tmp_path: Path) -> None:
    confirm(store, tmp_path, "n1", (item(ANN), 77), (item(ANN, program="Q"), 77))
    assert store.forget_program("Q") == 1
    assert "forgot 1 keys" in command.forget(store, before="2026-12-08")
    night = Night(store, tmp_path, "n2")
    assert night.classify(item(ANN)) == ["changed"]


def test_import_seeds_from_a_finished_runs_ok_results(store: Store, tmp_path: Path) -> None:
    bob = {"email": "bob@example.com"}
    lines = [item(ANN), item(bob), item({"mobile": "919740000009"})]
    run_dir = tmp_path / "old-run"
    run_dir.mkdir()
    source = tmp_path / "night.jsonl"
    source.write_bytes(b"".join(orjson.dumps(i) + b"\n" for i in lines))
    manifest = new_manifest(source, {}, from_stdin=False, spooled=False,
                            fingerprint=fingerprint(source))
    manifest["ended_at"] = "2026-12-06T03:00:00+00:00"
    write_json_atomic(run_dir / MANIFEST, manifest)
    (run_dir / RESULTS).write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in [
        result(2, lines[1], 78), result(1, lines[0], 77),
        result(3, lines[2], None, ok=False, code=8015)]))
    assert "imported 3 results" in command.import_command(store, [run_dir])
    assert store.import_runs([run_dir]) == 0          # known now: never twice
    night = Night(store, tmp_path, "n2")
    assert night.classify(*lines) == ["unchanged", "unchanged", "new"]
    assert "P" in command.show(store)


def test_a_verify_match_confirms_a_pending_key(store: Store, tmp_path: Path) -> None:
    night = Night(store, tmp_path, "n1")
    night.send((1, item(ANN)))
    night.answer(result(1, item(ANN), 77, ok=False, code=None, outcome="retryable"))
    night.end()
    assert Night(store, tmp_path, "check").classify(item(ANN)) == ["pending"]
    store.confirm_verified("n1", keys_of(ANN), 77, intents_of("update", item(ANN)), now=NOW)
    assert store.classify([entry(item(ANN))], now=NOW, refresh_after=MONTH,
                          full=False)[0].category == "unchanged"


def test_sample_unchanged_draws_confirmed_keys_only(store: Store, tmp_path: Path) -> None:
    bob = {"email": "bob@example.com"}
    confirm(store, tmp_path, "n1", (item(ANN), 77), (item(bob), 78))
    night = Night(store, tmp_path, "n2")
    night.send((1, item(bob, "Silver")))    # pending: the store cannot vouch for it
    sample = store.sample_unchanged(10, now=NOW)
    assert [(k.customer_id, k.program, k.linked, k.tier) for k in sample] == \
        [(77, "P", True, "Gold")]
    assert sample[0].expiry == datetime.fromisoformat(EXPIRY)


def test_show_counts_by_program_and_pending(store: Store, tmp_path: Path) -> None:
    confirm(store, tmp_path, "n1", (item(ANN), 77), (item(ANN, program="Q"), 77))
    Night(store, tmp_path, "n2").send((1, item({"email": "new@example.com"})))
    text = command.show(store)
    assert "1 customer, 3 keys, 1 pending" in text
    assert "oldest confirmation: 2026-12-07T02:00:00+00:00" in text
    with pytest.raises(StateError, match="exactly one"):
        command.forget(store, customer="77", program="P")


def test_kill_9_during_replay_leaves_store_and_ledger_agreeing(store: Store, url: str,
                                                              tmp_path: Path) -> None:
    data = [item({"externalId": f"c{i}"}) for i in range(20_000)]
    night = Night(store, tmp_path, "n1")
    night.send(*enumerate(data, 1))
    night.end()
    night.results.write_bytes(b"".join(orjson.dumps(result(n, d, 1000 + n)) + b"\n"
                                       for n, d in enumerate(data, 1)))
    script = ("import sys; from bulkupdate.state import open_store; "
              "open_store(sys.argv[1], scope=sys.argv[2]).apply_results('n1', sys.argv[3])")
    proc = subprocess.Popen([sys.executable, "-c", script, url, SCOPE, str(night.results)])

    def applied() -> int:
        return int(store.db.one("SELECT applied FROM runs WHERE run_id = 'n1'")[0])

    try:
        wait_until(applied, what="a first batch applied", alive=proc)
    finally:
        proc.kill()
        proc.wait()
    lines = night.results.read_bytes()[:applied()].count(b"\n")
    confirmed = store.db.one("SELECT count(*) FROM state WHERE confirmed_at IS NOT NULL")[0]
    marks = store.db.one("SELECT count(*) FROM marks")[0]
    assert (confirmed, marks) == (lines, len(data) - lines)
    store.replay_all(now=NOW)
    assert store.db.one("SELECT count(*) FROM marks")[0] == 0
    decisions = store.classify([entry(d) for d in data], now=NOW, refresh_after=None,
                               full=False)
    assert {d.category for d in decisions} == {"unchanged"}


def test_a_store_of_another_scope_is_refused_naming_both(store: Store, url: str) -> None:
    with pytest.raises(StateError) as caught:
        open_store(url, scope="https://other.example till:x")
    assert SCOPE in str(caught.value) and "https://other.example till:x" in str(caught.value)


def test_a_store_with_a_newer_schema_is_refused(store: Store, url: str) -> None:
    store.db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StateError, match="schema version 99"):
        open_store(url, scope=SCOPE)


def test_a_second_run_while_one_holds_the_store_is_refused_naming_it(store: Store,
                                                                     url: str,
                                                                     tmp_path: Path) -> None:
    store.begin_run("night-1", tmp_path, "update")
    other = open_store(url, scope=SCOPE)
    try:
        with pytest.raises(StateError) as caught:
            other.begin_run("night-2", tmp_path, "update")
        assert "night-1" in str(caught.value) and f"pid {os.getpid()}" in str(caught.value)
        store.end_run("night-1")
        assert other.begin_run("night-2", tmp_path, "update") == 2
    finally:
        other.close()


def test_refresh_over_31_nights_on_an_injected_clock(store: Store, tmp_path: Path) -> None:
    keys = 3000
    data = [item({"externalId": f"c{i}"}) for i in range(keys)]
    night = Night(store, tmp_path, "n0")
    night.send(*enumerate(data, 1))
    night.answer(*(result(n, d, 1000 + n) for n, d in enumerate(data, 1)))
    night.end()
    shares = []
    for day in range(1, 32):
        night = Night(store, tmp_path, f"n{day}", NOW + timedelta(days=day))
        sent = [(n, d) for n, (d, c) in enumerate(zip(data, night.classify(*data),
                                                      strict=True), 1) if c != "unchanged"]
        night.send(*sent)
        night.answer(*(result(n, d, 1000 + n) for n, d in sent))
        night.end()
        shares.append(len(sent))
    assert max(shares) <= 1.1 * keys / 30, shares


def test_the_sqlite_file_is_private_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "state.db"
    old = os.umask(0)
    try:
        store = open_store(f"sqlite://{path}", scope=SCOPE)
        confirm(store, tmp_path, "n1", (item(ANN), 77))
        store.close()
    finally:
        os.umask(old)
    for each in path.parent.iterdir():
        assert stat.S_IMODE(each.stat().st_mode) == 0o600, each
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700


def test_a_password_in_the_url_is_refused_before_connecting() -> None:
    with pytest.raises(StateError, match="PGPASSWORD") as caught:
        open_store("postgresql://bu:hunter2@127.0.0.1:1/state", scope=SCOPE)
    assert "hunter2" not in str(caught.value)


def test_copy_from_sqlite_to_postgresql_keeps_every_decision(tmp_path: Path,
                                                             postgres: Any) -> None:
    source = open_store(str(tmp_path / "state.db"), scope=SCOPE)
    confirm(source, tmp_path, "n1", (item(ANN), 77), (item({"email": "b@x.example"}), 78))
    target = open_store(postgres.new_database(), scope=SCOPE)
    try:
        assert "copied 2 keys" in command.copy(source, target)
        night = Night(target, tmp_path, "n2")
        assert night.classify(item(ANN), item({"email": "b@x.example"}, "Silver")) == \
            ["unchanged", "changed"]
        assert night.run_id and target.seq("n2") == 2
        with pytest.raises(StateError, match="empty store"):
            command.copy(source, target)
    finally:
        source.close()
        target.close()
