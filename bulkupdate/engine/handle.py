"""The decisions of :mod:`.decide` applied: final results to the ledger, a retry
after backoff (the pace cut first on a 429), a smaller batch size, the run's
abort. A :class:`~bulkupdate.engine.decide.Bisect` is the pipeline's own to
apply (its halves are requests): :meth:`Handler.apply` hands it back.

A per-item answer whose items do not all line up with the request was still
processed: the records it does not answer are final (``retryable``, uncertain),
and a :class:`~bulkupdate.capillary.matching.Breaker` stops the run when answers
keep doing it, before every record of the run is applied and reported unknown."""

from __future__ import annotations

from collections.abc import Iterable

from ..base.logs import Logger
from ..capillary.matching import Breaker
from ..errors import AnswersMismatch, ApiUnreachable, RunAborted
from ..settings import Rate
from .decide import (
    Abort,
    Bisect,
    Decision,
    Finish,
    LinedUp,
    OneAtATime,
    Refused,
    Restored,
    Retry,
    Split,
)
from .flow import Flow
from .throttle import Cut, Throttle


def answered(flow: Flow) -> bool:
    """Whether any request of the run (this session or an earlier one) had an
    HTTP answer."""
    sessions = [flow.stats.statuses, *(s.get("statuses") or {}
                                       for s in flow.ledger.manifest["sessions"])]
    return any(label != "none" and count for statuses in sessions
               for label, count in statuses.items())


class Handler:
    def __init__(self, flow: Flow, throttle: Throttle, log: Logger, rate: Rate, *,
                 fixed_batch: bool = False, base_url: str = "") -> None:
        """``fixed_batch``: the batch size was chosen (``--batch-size``): kept even
        when answers come back short; ``base_url``: named when nothing answers there."""
        self.flow = flow
        self.fixed_batch = fixed_batch
        self.base_url = base_url
        self.throttle = throttle
        self.log = log
        self.rate = rate
        self.lining_up = Breaker()

    def apply(self, decisions: Iterable[Decision]) -> Bisect | None:
        """Apply ``decisions`` in order; the bisection, if one was decided."""
        flow = self.flow
        bisect = None
        for d in decisions:
            if type(d) is Finish:
                flow.final(d.results, d.records, hold_until=d.hold_until)
            elif type(d) is Restored:
                if self.throttle.clean():
                    self.log.info("throttle.restored", pace=str(self.rate))
            elif type(d) is LinedUp:
                self._lined_up(d)
            elif type(d) is Refused:
                self._refused(d)
            elif type(d) is Retry:
                self._retry(d)
            elif type(d) is Split:
                self._split(d)
            elif type(d) is OneAtATime:
                self._one_at_a_time(d)
            elif type(d) is Bisect:
                self.log.info("batch.bisect", records=len(d.halves[0]) + len(d.halves[1]),
                              code=d.code)
                bisect = d
            else:
                assert type(d) is Abort
                flow.fail(self._unanswered(d.error))
        return bisect

    def _unanswered(self, error: RunAborted) -> RunAborted:
        """An API that cannot be reached before any request of the run was answered
        is most likely a wrong --base-url (a port, a host), not an outage."""
        if type(error) is not ApiUnreachable or answered(self.flow):
            return error
        why = str(error).split("; run 'bulkupdate resume'")[0]   # not "when it is back"
        return ApiUnreachable(f"nothing answers at {self.base_url}: check --base-url ({why})",
                              lines=error.lines)

    def _lined_up(self, d: LinedUp) -> None:
        """Count answers that do not line up; stop the run when they keep coming."""
        if not d.unmatched:
            self.lining_up.record(True)
            return
        self.log.warning("answers.mismatch", status=d.status, unmatched=d.unmatched,
                         records=d.records, detail=d.mismatch)
        if self.lining_up.record(False):
            self.flow.fail(AnswersMismatch(
                f"the API's answers do not line up with the requests "
                f"({self.lining_up.why}; {d.mismatch}): stopped so that updates are "
                "not applied again; the records it did not answer are in retry.jsonl, "
                "uncertain: check them before replaying; check --base-url, then "
                "'bulkupdate resume' sends the rest", status=d.status))

    def _refused(self, d: Refused) -> None:
        stats = self.flow.stats
        stats.transient_answers += 1
        if d.throttled:
            stats.throttled_answers += 1
            cut = self.throttle.throttled(d.sent_at, d.paced)
            if cut is not None:
                self._throttle_cut(cut, d.retry_after)
        elif d.paced:
            self.throttle.pause(d.paced)

    def _throttle_cut(self, cut: Cut, retry_after: float | None) -> None:
        if cut.hiccup:
            self.log.info("throttle.hiccup", pause_s=round(cut.pause_s, 3),
                          retry_after=retry_after)
            return
        stats = self.flow.stats
        stats.throttle_cuts += 1
        learned = str(cut.learned)
        self.log.warning("throttle.cut", pace=str(cut.pace), learned=learned,
                         pause_s=round(cut.pause_s, 3), retry_after=retry_after)
        if learned != stats.learned_rate:
            stats.learned_rate = learned
            self.log.info("throttle.learned", limit=learned, rate=str(self.rate))

    def _retry(self, d: Retry) -> None:
        self.log.info("batch.retry", status=d.status, reason=d.reason,
                      retrying=len(d.records), given_up=d.given_up, wait_s=round(d.delay, 3))
        if not d.records:
            return
        for record in d.records:
            record.uncertain = record.uncertain or d.uncertain
            record.waited += d.delay
        self.flow.later(d.delay, list(d.records))

    def _one_at_a_time(self, d: OneAtATime) -> None:
        flow = self.flow
        if self.fixed_batch or flow.batch_size == 1:
            return
        flow.batch_size = 1
        self.log.warning("batch.one_at_a_time", answered=d.answered, sent=d.sent,
                         hint="the API answered fewer customers than were sent: one "
                         "customer a request from now on (--batch-size sets it outright)")
        flow.changed.set()

    def _split(self, d: Split) -> None:
        flow = self.flow
        flow.stats.splits += 1
        if d.new_batch_size is None:
            return   # a single record: rejected, in the Finish that follows
        for record in d.records:
            record.attempts -= 1   # refused before processing: not an attempt
        flow.batch_size = d.new_batch_size
        self.log.warning("batch.split", code=d.code, new_batch_size=d.new_batch_size)
        flow.sched.give_back(list(d.records))
        flow.changed.set()
