"""What an answer means for the records that got it, applied: final results to
the ledger, a retry after backoff (the pace cut first on a 429), a smaller batch
size, a bisection, or the run's abort. The meaning itself is decided by pure
code: :mod:`~bulkupdate.capillary.answers` (HTTP → kind),
:mod:`~bulkupdate.capillary.outcomes` (items → results) and :mod:`.retry` (attempts,
budget, delay).

A per-item answer whose items do not all line up with the request was still
processed: the records it does not answer are final (``retryable``, uncertain),
and a :class:`~bulkupdate.matching.Breaker` stops the run when answers keep
doing it, before every record of the run is applied and reported unknown."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..capillary import outcomes
from ..capillary.answers import Answer, Kind
from ..capillary.matching import Breaker
from ..errors import AnswersMismatch, ApiUnreachable, AuthFailed, Misconfigured
from ..validate import Record
from .flow import Flow
from .throttle import Cut


class Handling(Flow):
    # The dispatcher's: a bisected half is sent like any request.
    _send: Callable[[list[Record], float], Awaitable[None]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lining_up = Breaker()

    async def _settle(self, records: list[Record], answer: Answer, sent_at: float) -> None:
        if answer.kind is Kind.DEFINITE:
            assert answer.items is not None
            mapped = outcomes.map_items(records, answer.items)
            if self.throttle.clean():
                self.log.info("throttle.restored", pace=str(self.settings.rate))
            self._definite(records, mapped.results, answer.status, sent_at)
            self._watch(mapped, answer.status)
            return
        if answer.kind is Kind.FATAL:
            lines = tuple(r.line for r in records)
            if answer.status in (401, 403):   # the API's own (a proxy's comes without one)
                self._fail(AuthFailed(f"the API refused the credentials ({answer.reason}); "
                                      "fix them and run 'bulkupdate resume'",
                                      status=answer.status, lines=lines))
            else:
                self._fail(Misconfigured(f"{answer.reason}; then run 'bulkupdate resume'",
                                         status=answer.status, lines=lines))
            return
        if answer.kind is Kind.SPLIT:
            await self._split(records, answer)
            return
        if answer.kind is Kind.BATCH:
            await self._bisect(records, answer)
            return
        self._transient(records, answer, sent_at)

    def _definite(self, records: list[Record], results: list[dict[str, Any]],
                  status: int | None, sent_at: float) -> None:
        """Final outcomes, except records the API answered "not now": those go back
        for a retry after a backoff, their customers still held."""
        later = [i for i, result in enumerate(results) if outcomes.not_now(result)]
        if not later:
            self._final(results, records)
            return
        skip = set(later)
        self._final([r for i, r in enumerate(results) if i not in skip],
                    [r for i, r in enumerate(records) if i not in skip])
        code = outcomes.not_now(results[later[0]])
        self._transient([records[i] for i in later],
                        Answer(Kind.TRANSIENT, status, f"code {code}: the API cannot take "
                               "this customer's update now", code=code), sent_at)

    def _watch(self, mapped: outcomes.Mapped, status: int | None) -> None:
        """Count answers that do not line up; stop the run when they keep coming."""
        if not mapped.unmatched:
            self._lining_up.record(True)
            return
        self.log.warning("answers.mismatch", status=status, unmatched=mapped.unmatched,
                         records=len(mapped.results), detail=mapped.mismatch)
        if self._lining_up.record(False):
            self._fail(AnswersMismatch(
                f"the API's answers do not line up with the requests "
                f"({self._lining_up.why}; {mapped.mismatch}): stopped so that updates are "
                "not applied again; the records it did not answer are in retry.jsonl, "
                "uncertain: check them before replaying; check --base-url, then "
                "'bulkupdate resume' sends the rest", status=status))

    async def _split(self, records: list[Record], answer: Answer) -> None:
        for record in records:
            record.attempts -= 1   # refused before processing: not an attempt
        self.stats.splits += 1
        if len(records) == 1:
            self._final([outcomes.rejected_batch(records[0], answer.code, answer.reason)],
                        records)
            return
        self.batch_size = max(1, min(self.batch_size, len(records) // 2))
        self.log.warning("batch.split", code=answer.code, new_batch_size=self.batch_size)
        self.sched.give_back(records)
        self._changed.set()

    async def _bisect(self, records: list[Record], answer: Answer) -> None:
        """A request refused as a whole: halve it until the refusal has one owner."""
        if len(records) == 1:
            self._final([outcomes.rejected_batch(records[0], answer.code, answer.reason)],
                        records)
            return
        self.log.info("batch.bisect", records=len(records), code=answer.code)
        half = len(records) // 2
        for part in (records[:half], records[half:]):
            await self._slots.acquire()
            if self._stopping or self._abort is not None:
                self._slots.release()
                return
            await self._send(part, await self.throttle.acquire())

    def _throttle_cut(self, cut: Cut, retry_after: float | None) -> None:
        if cut.hiccup:
            self.log.info("throttle.hiccup", pause_s=round(cut.pause_s, 3),
                          retry_after=retry_after)
            return
        self.stats.throttle_cuts += 1
        learned = str(cut.learned)
        self.log.warning("throttle.cut", pace=str(cut.pace), learned=learned,
                         pause_s=round(cut.pause_s, 3), retry_after=retry_after)
        if learned != self.stats.learned_rate:
            self.stats.learned_rate = learned
            self.log.info("throttle.learned", limit=learned, rate=str(self.settings.rate))

    def _transient(self, records: list[Record], answer: Answer, sent_at: float) -> None:
        self.stats.transient_answers += 1
        asked = answer.retry_after
        paced = self.retry.paced(asked)
        if answer.throttled:
            self.stats.throttled_answers += 1
            cut = self.throttle.throttled(sent_at, paced)
            if cut is not None:
                self._throttle_cut(cut, asked)
        elif paced:
            self.throttle.pause(paced)
        delay = self.retry.backoff(max(r.attempts for r in records), paced)
        hold = 0.0
        if answer.fate_unknown:
            # The attempt may still be applied (a gateway answered 504 while the API
            # goes on): nothing for these customers leaves before it has settled.
            hold = sent_at + self.retry.settle
            delay = max(delay, hold - time.monotonic())
        retry: list[Record] = []
        final: list[dict[str, Any]] = []
        for record in records:
            record.uncertain = record.uncertain or answer.fate_unknown
            verdict = self.retry.give_up(record.attempts, record.waited, delay, asked)
            if verdict == "retry_after":
                final.append(outcomes.retryable(
                    record, f"{answer.reason} (Retry-After of {asked:g}s is beyond the "
                            "retry budget left)"))
            elif verdict == "attempts":
                if answer.unreachable:
                    self._fail(ApiUnreachable(
                        f"the API at {self.settings.base_url} could not be reached after "
                        f"{record.attempts} attempts ({answer.reason}); run 'bulkupdate resume' "
                        "when it is back", lines=(record.line,)))
                    return
                final.append(outcomes.retryable(record, answer.reason))
            elif verdict == "budget":
                final.append(outcomes.retryable(
                    record, f"{answer.reason} (retry budget of "
                            f"{self.settings.retry_budget:g}s used up)"))
            else:
                record.waited += delay
                retry.append(record)
        self.log.info("batch.retry", status=answer.status, reason=answer.reason,
                      retrying=len(retry), given_up=len(final), wait_s=round(delay, 3))
        if final:
            self._final(final, [r for r in records if r not in retry], hold_until=hold)
        if retry:
            self._later(delay, retry)

