"""The exception hierarchy. A failed *record* is data (an outcome in the ledger);
only conditions that stop a *run* are exceptions::

    BulkUpdateError                 exit code is carried by the class
    ├── UsageError                  2  bad flag, setting, config file, credentials
    ├── LedgerError                 2  run directory unusable (input changed, not a run dir)
    └── RunAborted                  3  fatal API condition; the run is resumable
        ├── AuthFailed              401/403, or 401 again right after a token renewal
        ├── ApiUnreachable          no connection could be made within the retry budget
        ├── DiskFull                the run directory's disk stayed full past disk_wait
        ├── Misconfigured           redirect, 404/405 on the endpoint, TLS not trusted:
        │                           waiting will not help, a setting must change
        └── AnswersMismatch         the API's answers keep naming customers the
                                    requests did not (or not in a form we read)

Messages never contain credentials: errors are built from status codes and
record line numbers, never from request headers.
"""

from __future__ import annotations


class BulkUpdateError(Exception):
    exit_code = 1


class UsageError(BulkUpdateError):
    exit_code = 2


def cannot_open(what: str, path: object, exc: OSError) -> UsageError:
    """A file the user named (input, config, credentials) that cannot be read,
    as one line that says which and why."""
    if isinstance(exc, FileNotFoundError):
        return UsageError(f"{what} {path} does not exist")
    if isinstance(exc, IsADirectoryError):
        return UsageError(f"{what} {path} is a directory, not a file")
    if isinstance(exc, PermissionError):
        return UsageError(f"{what} {path} is not readable")
    return UsageError(f"{what} {path} cannot be read: {exc.strerror or exc}")


class LedgerError(BulkUpdateError):
    exit_code = 2


class RunAborted(BulkUpdateError):
    exit_code = 3

    def __init__(self, message: str, *, status: int | None = None, lines: tuple[int, ...] = ()):
        super().__init__(message)
        self.status = status
        # The input lines of the request that triggered the abort: they stay
        # unreported and are re-sent by `resume`.
        self.lines = lines


class AuthFailed(RunAborted):
    pass


class ApiUnreachable(RunAborted):
    pass


class DiskFull(RunAborted):
    def __init__(self, run_dir: object) -> None:
        super().__init__(f"no space left on device for {run_dir}: free space, "
                         "then bulkupdate resume")


class Misconfigured(RunAborted):
    pass


class AnswersMismatch(RunAborted):
    """Answers that were processed but do not line up: sending more would only
    apply updates whose outcome nobody can report."""
