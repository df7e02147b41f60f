"""The exit code of a run, decided here and nowhere else; and the policy of a
finished run: which not-``ok`` records a night may have and still count as a
normal night. Pure.

=====  ============================================================
0      every record ``ok`` (or only definite failures within the allowance)
1      finished; some records are not ``ok`` (see the ledger)
2      usage or configuration error, found before anything was sent
3      aborted by a fatal API condition; ``bulkupdate resume`` finishes it
130    interrupted by SIGINT/SIGTERM after draining; resumable
=====  ============================================================

A record ``already`` (the API said the goal holds: a link answered 2005, a
relink cancel 2027, a delink 2004) counts as done, like ``ok``.

A run exits 0 when every record is done, or when every record that is not is
*definite* — ``rejected``, ``partial`` or ``invalid``: the API (or validation)
gave its final word — and there are no more of them than ``--allow-failures``
(an :class:`Allowance`: a count ``N`` or a share ``P%`` of the records sent, that
is the input records but the ``unchanged`` ones). ``unchanged`` (``--state``:
not sent, the store holds that state as confirmed) counts as ``ok``.
A ``retryable`` record always exits 1: nobody knows what became of it, and
``retry.jsonl`` waits.

``verify`` (and ``run --verify``/``resume --verify``) read records back; their
verdicts (``verify.jsonl``) change the policy, record by record, and nothing else:

* a record that is not ``ok`` and reads back ``matches`` counts as ``ok`` (the
  API holds what it asked for: it is settled, however its answer was lost);
* a record that reads back ``differs`` counts as ``retryable``, whatever its
  outcome (a sampled ``ok`` one too: the audit found it not in place), so the
  night exits 1 and ``reapply.jsonl`` waits;
* ``unverifiable``, ``failed`` and ``superseded`` leave the outcome as it was.

So a night whose only not-``ok`` records were uncertain, and all now read
``matches``, exits 0 (definite failures still within ``--allow-failures``).
``verify``'s own exit (:func:`verify_exit_code`): 0 when every record it chose
has a verdict and every verdict is ``matches``, else 1; 3 and 130 as a run's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..capillary.outcomes import Outcome
from ..settings.values import Allowance

EXIT_OK, EXIT_NOT_OK, EXIT_USAGE, EXIT_ABORTED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
# What `bulkupdate resume` finishes.
RESUMABLE = frozenset({EXIT_ABORTED, EXIT_INTERRUPTED})
DEFINITE_FAILURES = (Outcome.PARTIAL, Outcome.REJECTED, Outcome.INVALID)
# Outcomes that reach the night's goal: the exit code counts them as ok.
DONE = (Outcome.OK, Outcome.ALREADY, Outcome.UNCHANGED)
NONE_ALLOWED = Allowance()   # the default: no definite failure allowed


def exit_code_of(summary: Mapping[str, Any],
                 allowance: Allowance | str | int = NONE_ALLOWED, *,
                 aborted: bool = False, interrupted: bool = False) -> int:
    """The exit code of a run or resume whose session has closed: 3 if it was
    aborted, 130 if interrupted, else 0 or 1 from ``summary.json``'s figures."""
    if aborted:
        return EXIT_ABORTED
    if interrupted:
        return EXIT_INTERRUPTED
    return finished_exit_code(summary, allowance)


def verify_exit_code(counts: Mapping[str, int], records: int, complete: bool) -> int:
    """``verify``'s exit when it finished: 0 only when every chosen record was
    read back and ``matches``."""
    return EXIT_OK if complete and counts.get("matches", 0) == records else EXIT_NOT_OK


def with_verdicts(summary: Mapping[str, Any],
                  judged: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """``summary`` with its outcomes moved by the verdicts read back: ``judged``
    holds (outcome, verdict) per record verified. ``matches`` settles a record
    that is not ``ok``; ``differs`` makes any record ``retryable``."""
    outcomes = dict(summary["outcomes"])
    for outcome, verdict in judged:
        if verdict == "matches" and outcome != Outcome.OK:
            moved_to = str(Outcome.OK)
        elif verdict == "differs" and outcome != Outcome.RETRYABLE:
            moved_to = str(Outcome.RETRYABLE)
        else:
            continue
        if outcomes.get(outcome, 0) > 0:
            outcomes[outcome] -= 1
            outcomes[moved_to] = outcomes.get(moved_to, 0) + 1
    return {**summary, "outcomes": outcomes}


def finished_exit_code(summary: Mapping[str, Any],
                       allowance: Allowance | str | int = NONE_ALLOWED) -> int:
    """0 or 1 for a run whose session ended normally (``summary.json``'s figures)."""
    outcomes = summary["outcomes"]
    records = summary["input_records"] or 0
    if not summary.get("complete"):
        return EXIT_NOT_OK
    done = sum(outcomes.get(outcome, 0) for outcome in DONE)
    if done == records:
        return EXIT_OK
    if outcomes.get(Outcome.RETRYABLE, 0):
        return EXIT_NOT_OK
    # Everything not done is one of DEFINITE_FAILURES here; counted from the total,
    # so a summary missing an outcome can never pass for a clean one. A share is
    # of the records sent: a night that skips most of its file is no more lenient.
    failures = records - done
    allowed = Allowance.parse(allowance).allowed(records - outcomes.get(Outcome.UNCHANGED, 0))
    return EXIT_OK if failures <= allowed else EXIT_NOT_OK
