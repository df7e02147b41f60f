"""bulkupdate: push loyalty tier changes into Capillary's partner-program API at
scale, with a per-customer ledger and crash-safe resume."""

__version__ = "0.1.0"

from .outcomes import Outcome
from .runner import RunResult, resume, run
from .settings import Settings

__all__ = ["Outcome", "RunResult", "Settings", "__version__", "resume", "run"]
