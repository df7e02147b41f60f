"""What an answer means for the records that got it, as values. Pure: no clock
(``now`` is given), no I/O, no record changed; the only randomness is the
retry policy's own injected source.

:func:`decide` turns the records of one request and its
:class:`~bulkupdate.capillary.answers.Answer` into a list of decisions, which the
pipeline applies in order (:mod:`.handle`):

=========================  ==================================================
decision                   the pipeline then
=========================  ==================================================
:class:`Restored`          probes the throttle's pace upward (a definite answer)
:class:`Finish`            writes final results; releases the customers, at
                           ``hold_until`` when an attempt may still settle
:class:`Refused`           counts a transient answer; on a 429 cuts the pace,
                           on a ``Retry-After`` pauses every sender
:class:`Retry`             logs ``batch.retry``; sends ``records`` again after
                           ``delay`` (their customers held until then)
:class:`Split`             sends the records again in smaller batches
:class:`Bisect`            sends each half as a request of its own
:class:`LinedUp`           counts whether the items lined up (the breaker)
:class:`OneAtATime`        sends one customer a request from now on (an answer
                           that held fewer customers than were sent), unless
                           ``--batch-size`` was chosen
:class:`Abort`             stops the run
=========================  ==================================================

The answer kinds come from :mod:`~bulkupdate.capillary.answers`, per-item
results from :mod:`~bulkupdate.capillary.outcomes`, attempts, budget and delays
from :mod:`.retry`. Per item, the API's "not now" codes (2010, 2001) make a
definite answer transient for those records alone. After an answer of unknown
fate nothing of those customers leaves before ``settle`` has passed since the
attempt was sent: the API may still apply it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..base.endpoint import UPDATE, Endpoint
from ..base.retry import RetryPolicy
from ..capillary import outcomes
from ..capillary.answers import Answer, Kind
from ..capillary.result import Outcome, RecordResult
from ..errors import ApiUnreachable, AuthFailed, Misconfigured, RunAborted
from ..source.validate import Record

Results = list[RecordResult]


@dataclass(frozen=True, slots=True)
class Restored:
    """A definite answer: the throttle may probe its pace upward."""


@dataclass(frozen=True, slots=True)
class Finish:
    results: Results
    records: Sequence[Record] = ()     # whose customers are released
    hold_until: float = 0.0            # monotonic; 0: at once


@dataclass(frozen=True, slots=True)
class Refused:
    """The throttle facts of a transient answer."""

    throttled: bool                    # a 429: the pace may be cut
    sent_at: float                     # when the refused request was granted
    paced: float | None                # the Retry-After, as a wait (at most the cap)
    retry_after: float | None          # as the server asked


@dataclass(frozen=True, slots=True)
class Retry:
    records: Sequence[Record]          # sent again after delay (may be none)
    delay: float
    uncertain: bool                    # the attempt's fate is unknown: mark them
    status: int | None
    reason: str
    given_up: int                      # records of the answer final now


@dataclass(frozen=True, slots=True)
class Split:
    records: Sequence[Record]          # back to be sent; the refusal was no attempt
    new_batch_size: int | None         # None: a single record, rejected (see Finish)
    code: int | None


@dataclass(frozen=True, slots=True)
class Bisect:
    halves: tuple[list[Record], list[Record]]
    code: int | None


@dataclass(frozen=True, slots=True)
class LinedUp:
    """Whether a per-item answer's items all named their records."""

    unmatched: int
    records: int
    mismatch: str
    status: int | None


@dataclass(frozen=True, slots=True)
class OneAtATime:
    """An answer held fewer customers than the request (a server without batch
    support): the rest of the run goes one customer a request."""

    answered: int
    sent: int


@dataclass(frozen=True, slots=True)
class Abort:
    error: RunAborted


Decision = Restored | Finish | Refused | Retry | Split | Bisect | LinedUp | OneAtATime | Abort


def decide(records: list[Record], answer: Answer, *, sent_at: float, now: float,
           retry: RetryPolicy, batch_size: int, base_url: str,
           endpoint: Endpoint = UPDATE) -> list[Decision]:
    """The decisions for ``answer`` to the request of ``records`` granted at ``sent_at``."""
    kind = answer.kind
    if kind is Kind.DEFINITE:
        return definite(records, answer, sent_at=sent_at, now=now, retry=retry,
                        endpoint=endpoint)
    if kind is Kind.FATAL:
        return [Abort(fatal(answer, tuple(r.line for r in records)))]
    if kind is Kind.SPLIT:
        if len(records) == 1:
            return [Split((), None, answer.code),
                    Finish([outcomes.rejected_batch(records[0], answer.code, answer.reason,
                                                    attempts=records[0].attempts - 1)],
                           records)]
        return [Split(records, max(1, min(batch_size, len(records) // 2)), answer.code)]
    if kind is Kind.BATCH:
        if len(records) == 1:
            return [Finish([outcomes.rejected_batch(records[0], answer.code, answer.reason)],
                           records)]
        half = len(records) // 2
        return [Bisect((records[:half], records[half:]), answer.code)]
    return transient(records, answer, sent_at=sent_at, now=now, retry=retry,
                     base_url=base_url)


def fatal(answer: Answer, lines: tuple[int, ...]) -> RunAborted:
    if answer.status in (401, 403):   # the API's own (a proxy's comes without one)
        return AuthFailed(f"the API refused the credentials ({answer.reason}); "
                          "fix them and run 'bulkupdate resume'",
                          status=answer.status, lines=lines)
    return Misconfigured(f"{answer.reason}; then run 'bulkupdate resume'",
                         status=answer.status, lines=lines)


def definite(records: list[Record], answer: Answer, *, sent_at: float, now: float,
             retry: RetryPolicy, endpoint: Endpoint = UPDATE) -> list[Decision]:
    """Final outcomes, except records the API answered "not now": those are
    retried after a backoff, their customers still held; and those a short
    answer left out (``short_answers`` endpoints): settled, then sent again."""
    assert answer.items is not None
    mapped = outcomes.map_items(records, answer.items, endpoint.shaped(answer.shape))
    results = mapped.results
    out: list[Decision] = [Restored()]
    left = set(mapped.left_out)
    later = [i for i, result in enumerate(results)   # an ok one is final: not asked
             if result.outcome is not Outcome.OK and i not in left
             and outcomes.not_now(result)]
    skip = left.union(later)
    if not skip:
        out.append(Finish(results, records))
    else:
        out.append(Finish([r for i, r in enumerate(results) if i not in skip],
                          [r for i, r in enumerate(records) if i not in skip]))
    if later:
        code = outcomes.not_now(results[later[0]])
        deferred = Answer(Kind.TRANSIENT, answer.status, f"code {code}: the API cannot take "
                          "this customer's update now", code=code)
        out += transient([records[i] for i in later], deferred, sent_at=sent_at, now=now,
                         retry=retry, base_url="")
    if left:
        # Left out of an answer that names the others: maybe applied, maybe not.
        unknown = Answer(Kind.TRANSIENT, answer.status, f"HTTP {answer.status}: the answer "
                         f"left this customer out ({len(records) - len(left)} results for "
                         f"{len(records)} customers)", fate_unknown=True)
        out += transient([records[i] for i in sorted(left)], unknown, sent_at=sent_at,
                         now=now, retry=retry, base_url="")
        out.append(OneAtATime(len(records) - len(left), len(records)))
    out.append(LinedUp(mapped.unmatched, len(results), mapped.mismatch, answer.status))
    return out


def transient(records: list[Record], answer: Answer, *, sent_at: float, now: float,
              retry: RetryPolicy, base_url: str) -> list[Decision]:
    """An answer that decided nothing: each record retried after one delay, or
    final (``retryable``) when its attempts, its budget or the server's
    ``Retry-After`` leave no retry; an unreachable API after the last attempt
    stops the run."""
    asked = answer.retry_after
    paced = retry.paced(asked)
    out: list[Decision] = [Refused(answer.throttled, sent_at, paced, asked)]
    delay = retry.backoff(max(r.attempts for r in records), paced)
    hold = 0.0
    if answer.fate_unknown:
        # The attempt may still be applied (a gateway answered 504 while the API
        # goes on): nothing for these customers leaves before it has settled.
        hold = sent_at + retry.settle
        delay = max(delay, hold - now)
    again: list[Record] = []
    final: Results = []
    given_up: list[Record] = []
    for record in records:
        verdict: str | None = retry.give_up(record.attempts, record.waited, delay, asked)
        if answer.fate_unknown and record.once:
            verdict = "once"
        if verdict is None:
            again.append(record)
            continue
        if verdict == "attempts" and answer.unreachable:
            out.append(Abort(ApiUnreachable(
                f"the API at {base_url} could not be reached after "
                f"{record.attempts} attempts ({answer.reason}); run 'bulkupdate resume' "
                "when it is back", lines=(record.line,))))
            return out
        final.append(outcomes.retryable(record, _why(verdict, answer.reason, asked, retry),
                                        uncertain=answer.fate_unknown))
        given_up.append(record)
    out.append(Retry(again, delay, answer.fate_unknown, answer.status, answer.reason,
                     len(final)))
    if final:
        out.append(Finish(final, given_up, hold_until=hold))
    return out


def _why(verdict: str, reason: str, asked: float | None, retry: RetryPolicy) -> str:
    if verdict == "once":
        return (f"{reason}; not sent again: a future-dated link would queue a second "
                "relink if this attempt was applied (check the customer, e.g. bulkupdate "
                "verify, before re-sending retry.jsonl)")
    if verdict == "retry_after":
        return f"{reason} (Retry-After of {asked:g}s is beyond the retry budget left)"
    if verdict == "budget":
        return f"{reason} (retry budget of {retry.budget:g}s used up)"
    return reason
