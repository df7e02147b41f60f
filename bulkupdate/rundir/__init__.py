"""The run directory (the ledger): what was sent, what became final, and what it adds up to.

=================  ==========================================================
``manifest.json``  run id, input path and fingerprint, settings (no secrets),
                   version, sessions (one per run/resume) with their figures
``results.jsonl``  one line per input record, appended as outcomes become final
``sent.jsonl``     one line per request, written *before* it is sent: after a
                   crash, lines sent but without a result may have been applied;
                   ``t`` is when the pacer let it go (the log ``--rate`` holds in)
``retry.jsonl``    the ``retryable`` records in input format, rebuilt at the end
``summary.json``   counts per outcome and per API code, requests, throughput
``events.jsonl``   the run's log (PII masked)
``lock``           who owns the directory now (pid, host, since); empty if nobody
=================  ==========================================================

:class:`Ledger` (``ledger``) is the one object the rest of the tool talks to; each
file has its own module: ``manifest``, ``journal`` (sent), ``resultsfile``,
``summary`` (summary and retry), with ``files`` (names, careful reads and
writes) and ``lineset`` under them. The directory is private (``private``:
0700, files 0600, no symbolic link followed), has one owner at a time
(``lock``), and what is read back is checked before it is trusted (``check``).
"""

from .files import (
    EVENTS,
    FSYNC_EVERY,
    MANIFEST,
    RESULTS,
    RETRY,
    SENT,
    SUMMARY,
    default_run_dir,
    now_iso,
    repair_tail,
    write_json_atomic,
)
from .ledger import Ledger
from .lineset import LineSet
from .private import ensure_fresh

__all__ = ["EVENTS", "FSYNC_EVERY", "MANIFEST", "RESULTS", "RETRY", "SENT", "SUMMARY", "Ledger",
           "LineSet", "default_run_dir", "ensure_fresh", "now_iso", "repair_tail",
           "write_json_atomic"]
