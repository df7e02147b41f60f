"""bulkupdate: push loyalty tier changes into Capillary's partner-program API at
scale, with a per-customer ledger and crash-safe resume.

The public API (``CONTRACT.md``, "Library")::

    result = await bulkupdate.arun(source, settings, *, run_dir=None, on_result=None,
                                   control=None)
    result = await bulkupdate.aresume(run_dir, settings=None, *, on_result=None,
                                      control=None)
    result = bulkupdate.run(...)      # and bulkupdate.resume(...): without a loop
    result = await bulkupdate.alink(source, settings, ...)   # the Link Customer API;
    result = bulkupdate.link(...)     # same rules, resumed by aresume/resume
    result = await bulkupdate.adelink(source, settings, ..., max_delinks=None,
                                      on_delinks=None)   # the delink API (docs/delink.md)
    result = bulkupdate.delink(...)
    summary = await bulkupdate.averify(run_dir, settings=None, *, sample=0,
                                       on_result=None, control=None)
    summary = bulkupdate.verify(...)  # a VerifySummary (docs/verify.md)

``on_result`` runs on the event loop: it must not block.
"""

from .capillary.outcomes import Outcome
from .errors import (
    ApiUnreachable,
    AuthFailed,
    BulkUpdateError,
    LedgerError,
    Misconfigured,
    RunAborted,
    UsageError,
)
from .night.control import Control
from .night.runner import adelink, alink, aresume, arun, delink, link, resume, run
from .results import ProgramResult, RecordResult, RunResult, Summary
from .settings import Credentials, Rate, Settings
from .verify import VerifySummary, averify, verify
from .version import __version__

__all__ = [
    "ApiUnreachable", "AuthFailed", "BulkUpdateError", "Control", "Credentials",
    "LedgerError", "Misconfigured", "Outcome", "ProgramResult", "Rate", "RecordResult",
    "RunAborted", "RunResult", "Settings", "Summary", "UsageError", "VerifySummary",
    "__version__", "adelink", "alink", "aresume", "arun", "averify", "delink", "link",
    "resume", "run", "verify",
]
