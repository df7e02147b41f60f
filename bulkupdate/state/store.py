"""The store: one object per open connection, the face the engine and the
``state`` command use. Decisions, marks and replay are in their own modules;
this class holds the connection, the lease and the run registry."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from ..rundir.files import RESULTS
from . import admin, lookup, marks, postgres, replay, seed, sqlite
from .db import Db
from .errors import StateError
from .intent import Intent, to_micros
from .schema import SCHEMA_VERSION, statements
from .skip import Clock, Decision
from .url import StoreUrl, parse_url

BATCH = 500   # records per lookup: two queries each


class Lease(Protocol):
    def acquire(self) -> bool: ...
    def release(self) -> None: ...


def open_store(url: str, *, scope: str) -> Store:
    where = parse_url(url)
    if where.kind == "sqlite":
        assert where.path is not None
        db = sqlite.connect(where.path)
        lease: Lease = sqlite.FileLease(where.path)
    else:
        db = postgres.connect(where.conninfo)
        lease = postgres.AdvisoryLease(db, scope)
    try:
        _prepare(db, where, scope)
    except BaseException:
        db.close()
        raise
    return Store(db, where, scope, lease)


def _prepare(db: Db, where: StoreUrl, scope: str) -> None:
    """Tables created on first use, the schema version checked, the scope bound."""
    with db.transaction():
        for statement in statements(db.dialect):
            db.execute(statement)
        meta = dict(db.all("SELECT key, value FROM meta"))
        version = int(meta.get("schema_version", SCHEMA_VERSION))
        if version > SCHEMA_VERSION:
            raise StateError(f"state store {where.describe()} has schema version {version}; "
                             f"this bulkupdate knows up to {SCHEMA_VERSION}: upgrade bulkupdate")
        bound = meta.get("scope")
        if bound is not None and bound != scope:
            raise StateError(f"state store {where.describe()} belongs to scope {bound!r}, "
                             f"not this run's {scope!r}: use another store for another API "
                             "root or credential (or set state_scope)")
        if bound is None:
            db.executemany("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) "
                           "DO NOTHING", [("schema_version", str(SCHEMA_VERSION)),
                                          ("scope", scope), ("created_at", _iso_now())])


def _iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _micros(now: datetime | None) -> int:
    micros = to_micros(now or datetime.now(UTC))
    assert micros is not None
    return micros


class Store:
    def __init__(self, db: Db, where: StoreUrl, scope: str, lease: Lease) -> None:
        self.db, self.where, self.scope, self._lease = db, where, scope, lease
        self.url = where.describe()
        self._seqs: dict[str, int] = {}
        self._seen_programs: set[str] = set()
        self._held: str | None = None

    def close(self) -> None:
        if self._held is not None:
            self.end_run(self._held)
        self.db.close()

    def begin_run(self, run_id: str, run_dir: Path, api: str, *,
                  now: datetime | None = None) -> int:
        """Take the lease (StateError naming the holder when busy; this store
        keeps it if it holds it already) and register the run (a resumed one
        keeps its seq)."""
        if self._held is None and not self._lease.acquire():
            raise StateError(admin.busy(self.db, self.url))
        self._held = run_id
        admin.hold(self.db, run_id)
        with self.db.transaction():
            self.db.execute("INSERT INTO runs (run_id, run_dir, api, started_at) "
                            "VALUES (?, ?, ?, ?) ON CONFLICT (run_id) DO NOTHING",
                            (run_id, str(Path(run_dir).resolve()), api, _micros(now)))
        return self.seq(run_id)

    def end_run(self, run_id: str, *, now: datetime | None = None) -> None:
        self.db.execute("UPDATE runs SET ended_at = ? WHERE run_id = ?", (_micros(now), run_id))
        if self._held is not None:
            self._lease.release()
            self._held = None

    def seq(self, run_id: str) -> int:
        if run_id not in self._seqs:
            row = self.db.one("SELECT seq FROM runs WHERE run_id = ?", (run_id,))
            if row is None:
                raise StateError(f"state: run {run_id} is not registered in {self.url}")
            self._seqs[run_id] = int(row[0])
        return self._seqs[run_id]

    def classify(self, items: Sequence[tuple[tuple[str, ...], tuple[Intent, ...]]], *,
                 now: datetime, refresh_after: timedelta | None, full: bool,
                 note: bool = True) -> list[Decision]:
        """Decisions in the order of ``items``; ``note``: remember which rows
        they name, for :meth:`absent`."""
        clock = Clock.of(now, refresh_after, full)
        out: list[Decision] = []
        for start in range(0, len(items), BATCH):
            decisions, seen = lookup.decide_batch(self.db, items[start:start + BATCH], clock)
            out.extend(decisions)
            if note:
                self._seen_programs.update(i.program for _, intents in items[start:start + BATCH]
                                           for i in intents)
                admin.note_seen(self.db, seen)
        return out

    def absent(self) -> dict[str, int]:
        """By program (of those the classified records name): keys confirmed
        linked that no classified record named."""
        return admin.absent(self.db, self._seen_programs)

    def mark_pending(self, run_id: str,
                     entries: Sequence[tuple[int, tuple[str, ...], tuple[Intent, ...]]]) -> None:
        marks.mark_pending(self.db, self.seq(run_id), entries)

    def apply_results(self, run_id: str, results_path: Path, *,
                      now: datetime | None = None) -> int:
        return replay.apply_results(self.db, self.seq(run_id), Path(results_path), _micros(now))

    def replay_all(self, *, now: datetime | None = None) -> int:
        """Every registered run whose ``results.jsonl`` is past its offset."""
        total = 0
        for run_id, run_dir, applied in self.db.all("SELECT run_id, run_dir, applied FROM runs "
                                                    "ORDER BY seq"):
            path = Path(run_dir) / RESULTS
            if path.is_file() and path.stat().st_size > applied:
                total += self.apply_results(run_id, path, now=now)
        return total

    def confirm_verified(self, run_id: str, keys: Sequence[str], customer_id: int | None,
                         intents: Sequence[Intent], *, now: datetime | None = None) -> None:
        """A verify verdict ``matches``: the run's intents confirmed for this
        customer, under the latest-writer rule."""
        admin.confirm_verified(self.db, self.seq(run_id), tuple(keys), customer_id,
                               tuple(intents), _micros(now))

    def forget_customer(self, identifier: str) -> int:
        return admin.forget_customer(self.db, identifier)

    def forget_program(self, program: str) -> int:
        return admin.forget_program(self.db, program)

    def forget_before(self, when: datetime) -> int:
        return admin.forget_before(self.db, _micros(when))

    def sample_unchanged(self, n: int, *, now: datetime) -> list[admin.StoredKey]:
        return admin.sample_unchanged(self.db, n, _micros(now))

    def summary(self) -> dict[str, Any]:
        return admin.summary(self.db, self.scope)

    def import_runs(self, run_dirs: Sequence[Path], *, now: datetime | None = None) -> int:
        return seed.import_runs(self.db, [Path(d) for d in run_dirs], _micros(now))
