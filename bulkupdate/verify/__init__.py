"""``bulkupdate verify``: read back what a night left uncertain (and, on demand,
a sample of what it reported ``ok``) and say, per record, whether the customer
is now where the input wanted it.

``verdict`` (pure: what the API holds → a verdict), ``select`` (which records,
and which later input lines supersede them), ``files`` (``verify.jsonl``,
``reapply.jsonl``, ``verify.json``), ``run`` (the read driver: the engine's
throttle, retry policy and the run directory's lock, resumable).
"""

from .run import VerifySummary, averify, verify

__all__ = ["VerifySummary", "averify", "verify"]
