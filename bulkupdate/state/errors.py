"""The store's one exception: a usage or configuration error (bad URL, a password
in it, another scope, a schema too new, psycopg missing, the store busy) that
stops a command with exit code 2 and a message saying what to fix."""

from __future__ import annotations

from ..errors import UsageError


class StateError(UsageError):
    pass
