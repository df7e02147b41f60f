"""The PostgreSQL backend (psycopg 3, an optional dependency: ``pip install
'bulkupdate[postgres]'``). The lease is a session-level advisory lock, dropped
by the server when the holder's connection ends, however it ends."""

from __future__ import annotations

import hashlib

from .db import Db
from .errors import StateError


def connect(conninfo: str) -> Db:
    try:
        import psycopg
    except ImportError:
        raise StateError("state: a postgresql:// store needs psycopg 3: "
                         "pip install 'bulkupdate[postgres]'") from None
    try:
        conn = psycopg.connect(conninfo, autocommit=True, connect_timeout=15)
    except psycopg.Error as exc:
        # libpq's message names host and user, never a password (none is accepted).
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StateError(f"state: cannot connect to PostgreSQL: {reason}") from None
    return Db(conn, "postgresql")


def lock_key(scope: str) -> int:
    """The advisory lock's key: the scope's hash as a signed 64-bit integer."""
    return int.from_bytes(hashlib.sha256(scope.encode()).digest()[:8], "big", signed=True)


class AdvisoryLease:
    def __init__(self, db: Db, scope: str) -> None:
        self.db, self.key = db, lock_key(scope)
        self.held = False

    def acquire(self) -> bool:
        self.held = bool(self.db.one("SELECT pg_try_advisory_lock(?)", (self.key,))[0])
        return self.held

    def release(self) -> None:
        if self.held:
            self.db.execute("SELECT pg_advisory_unlock(?)", (self.key,))
            self.held = False
