"""The retry policy: it lives in :mod:`bulkupdate.retry` (auth follows it too)."""

from ..retry import GiveUp, RetryPolicy

__all__ = ["GiveUp", "RetryPolicy"]
