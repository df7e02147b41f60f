"""Where the store lives: ``sqlite:///path/state.db`` or a plain path (the
embedded default), or ``postgresql://…`` (psycopg 3). Pure: parses, never opens.

A password in a PostgreSQL URL is refused, and never repeated in the message:
a URL ends up in shell history, in settings files and in ``ps``; libpq has its
own ways (``PGPASSWORD``, ``~/.pgpass``, a service file)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .errors import StateError

PG_SCHEMES = ("postgresql", "postgres")


@dataclass(frozen=True, slots=True)
class StoreUrl:
    kind: str                 # "sqlite" | "postgresql"
    path: Path | None = None  # SQLite: the database file
    conninfo: str = ""        # PostgreSQL: the URL as given (it holds no password)

    def describe(self) -> str:
        """The URL as it may be shown (never a secret: none is accepted)."""
        return str(self.path) if self.kind == "sqlite" else self.conninfo


def parse_url(url: str) -> StoreUrl:
    text = url.strip()
    if not text:
        raise StateError("state: empty URL: give a path, sqlite:///path/state.db or "
                         "postgresql://user@host/db")
    scheme, sep, rest = text.partition("://")
    if not sep:
        if text.startswith(("sqlite:", "postgresql:", "postgres:")):
            raise StateError(f"state: {scheme}: URL without '//': use sqlite:///path/state.db "
                             "or postgresql://user@host/db")
        return StoreUrl("sqlite", Path(text).expanduser())
    scheme = scheme.lower()
    if scheme == "sqlite":
        return _sqlite(rest)
    if scheme in PG_SCHEMES:
        return _postgres(text)
    raise StateError(f"state: unknown URL scheme {scheme!r}: use a path, "
                     "sqlite:///path/state.db or postgresql://user@host/db")


def _sqlite(rest: str) -> StoreUrl:
    path = rest   # sqlite:///tmp/x.db → /tmp/x.db; sqlite://x.db → x.db (relative)
    if not path or path.endswith("/"):
        raise StateError("state: sqlite URL without a file: use sqlite:///path/state.db")
    return StoreUrl("sqlite", Path(path).expanduser())


def _postgres(text: str) -> StoreUrl:
    try:
        parts = urlsplit(text)
        has_password = parts.password is not None
        query = parts.query
    except ValueError:
        raise StateError("state: the postgresql URL cannot be parsed "
                         "(e.g. postgresql://user@host:5432/db)") from None
    if has_password or any(p.split("=", 1)[0].lower() == "password"
                           for p in query.split("&") if p):
        raise StateError("state: the postgresql URL holds a password: remove it and give "
                         "it the way libpq reads it (the PGPASSWORD environment variable, "
                         "~/.pgpass, or a service file named by PGSERVICE)")
    return StoreUrl("postgresql", conninfo=text)
