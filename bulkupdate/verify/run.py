"""The read driver: every chosen record read back through the engine's parts —
the one :class:`~bulkupdate.capillary.transport.Transport` (the token renewed
after a 401, a certificate not trusted fatal, as for a run), the
:class:`~bulkupdate.engine.throttle.Throttle` at ``--rate`` (reads count
against the same key's limit as updates, and its 429 learning), the
:class:`~bulkupdate.base.retry.RetryPolicy` (attempts, budget, backoff,
``Retry-After`` capped as the engine caps it), ``--concurrency`` readers, the
run directory's lock, the run's ``events.jsonl`` and a
:class:`~bulkupdate.night.control.Control` to drain on a signal. Reads change
nothing, so nothing settles. Resumable: what ``verify.jsonl`` already holds is
never read again (unless ``again``).

A guest in the caller's process, like :func:`bulkupdate.night.runner.arun`.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..base.logs import Logger, RunLog, null_logger
from ..base.retry import RetryPolicy
from ..capillary.auth import Auth
from ..capillary.client import transport_for
from ..capillary.read import ReadEndpoint, ReadKind, read_answer, read_identifier
from ..capillary.transport import Transport, Wire
from ..engine.throttle import Throttle
from ..errors import RunAborted, UsageError
from ..night.control import Control
from ..night.exitcode import EXIT_ABORTED, EXIT_INTERRUPTED, verify_exit_code
from ..night.runner import check_settings, on_own_loop
from ..rundir import EVENTS, now_iso
from ..rundir.lock import RunLock
from ..rundir.manifest import api_of, check_input, read_manifest
from ..rundir.private import prepare
from ..settings import Settings
from . import files
from .select import Chosen, load_chosen, pick_lines
from .state import StoreCheck, open_check
from .verdict import JUDGING, VERDICTS, Held, Verdict, judge
from .watch import VerifyWatch

OnVerdict = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class VerifySummary:
    run_dir: Path
    counts: dict[str, int]      # verdict → records, this verify and the ones before
    records: int                # records chosen (uncertain + sample)
    complete: bool              # every chosen record has a verdict
    reapply: int                # records in reapply.jsonl
    exit_code: int
    reason: str = ""
    drift: int = 0              # unchanged records that read back differs (--state)

    def as_dict(self) -> dict[str, Any]:
        return {"counts": self.counts, "records": self.records, "complete": self.complete,
                "reapply": self.reapply, "exit_code": self.exit_code, "drift": self.drift,
                "reason": self.reason or None, "ended_at": now_iso()}


async def averify(run_dir: str | Path, settings: Settings | None = None, *, sample: int = 0,
                  on_result: OnVerdict | None = None, again: bool = False,
                  control: Control | None = None, seed: int | None = None) -> VerifySummary:
    """Read back the run's uncertain records (and ``sample`` of its ``ok`` ones).
    ``settings=None`` reuses the run's own, with credentials from the environment.
    ``on_result`` gets each ``verify.jsonl`` entry (a dict) on the event loop: it
    must not block."""
    from ..night.runner import own_settings

    run_dir = Path(run_dir)
    if settings is None:
        settings = own_settings(run_dir)
    check_settings(settings)
    prepare(run_dir, new=False)
    lock = RunLock.acquire(run_dir)
    try:
        manifest = read_manifest(run_dir)
        check_input(manifest)
        input_path = Path(manifest["input"])
        api = api_of(manifest)
        if api not in JUDGING:
            raise UsageError(f"verify cannot read back a {api} run (it reads back "
                             f"{', '.join(JUDGING)} runs)")
        # The same sample again for the same run and N: a verify run again continues it.
        rng = random.Random(f"{manifest.get('run_id')}/{sample}" if seed is None else seed)
        check = await asyncio.to_thread(open_check, settings, manifest)
        lines = await asyncio.to_thread(pick_lines, run_dir, sample, rng,
                                        sample if check else 0)
        chosen = await asyncio.to_thread(load_chosen, input_path, lines, api)
        vfile = files.VerifyFile(run_dir, again=again)
        try:
            driver = _Driver(settings, vfile, on_result, api, check=check)
            code, reason = await driver.run(run_dir, chosen, control or Control())
        finally:
            vfile.close()
            if check is not None:
                check.close()
        counts = vfile.counts()
        differs = {n for n, v in vfile.done.items() if v == "differs"}
        reapply = await asyncio.to_thread(files.write_reapply, run_dir, input_path, differs,
                                          api)
        complete = all(c.line in vfile.done for c in chosen)
        summary = VerifySummary(run_dir, counts, len(chosen), complete, reapply, code, reason,
                                len(check.drift) if check else 0)
        files.write_verify_summary(run_dir, summary.as_dict())
        return summary
    finally:
        lock.release()


def verify(run_dir: str | Path, settings: Settings | None = None, *, sample: int = 0,
           on_result: OnVerdict | None = None, again: bool = False,
           control: Control | None = None) -> VerifySummary:
    """:func:`averify` on an event loop of its own (refused inside a running
    loop, before anything is created)."""
    return on_own_loop("verify", lambda: averify(run_dir, settings, sample=sample,
                                                 on_result=on_result, again=again,
                                                 control=control))


class _Driver:
    def __init__(self, settings: Settings, vfile: files.VerifyFile,
                 on_result: OnVerdict | None, api: str = "update",
                 wire: Wire | None = None, check: StoreCheck | None = None) -> None:
        self.check = check
        self.settings = settings
        self.api = api
        self.wire = wire
        self.vfile = vfile
        self.on_result = on_result
        self.endpoint = ReadEndpoint(settings.read_path, settings.read_source,
                                     settings.read_activity_type)
        self.throttle = Throttle(settings.rate)
        self.retry = RetryPolicy.from_settings(settings)
        self.stopping = False
        self.requests = 0
        self.log: Logger = null_logger()
        self._tasks: list[asyncio.Task[None]] = []
        self.watch = VerifyWatch(0, self.vfile.counts)

    def stop(self) -> None:
        self.log.warning("verify.stopping", hint="reads in flight finish; a second signal "
                         "cuts them short; verify again continues")
        self.stopping = True

    def cut_short(self) -> None:
        self.stopping = True
        for task in self._tasks:
            task.cancel()

    async def run(self, run_dir: Path, chosen: list[Chosen],
                  control: Control) -> tuple[int, str]:
        """(exit code, reason): 3 aborted, 130 stopped, else 0 or 1 from the verdicts."""
        run_log = RunLog(run_dir / EVENTS, level=self.settings.log_level,
                         mask=self.settings.mask_pii)
        log = self.log = run_log.log
        todo = [c for c in chosen if c.line not in self.vfile.done]
        log.info("verify.started", records=len(chosen), todo=len(todo))
        started = time.monotonic()
        code: int | None = None
        reason = ""
        self.watch = VerifyWatch(len(chosen), self.vfile.counts)
        control.attach(self)
        try:
            async with self.watch.running(self.settings, log):
                code, reason = await self._read_all(todo)
                if code is None and self.stopping:
                    code, reason = EXIT_INTERRUPTED, control.why or "stopped"
                if code is None:
                    judged = Counter(self.vfile.done.get(c.line, "") for c in chosen)
                    code = verify_exit_code(judged, len(chosen), "" not in judged)
                self.watch.exit_code = code
        finally:
            control.detach(self)
            log.info("verify.finished", exit_code=code, requests=self.requests,
                     duration_s=round(time.monotonic() - started, 3),
                     **self.vfile.counts())
            run_log.close()
        return code, reason

    async def _read_all(self, todo: list[Chosen]) -> tuple[int | None, str]:
        auth = Auth(self.settings.credentials, self.log, retry=self.retry)
        async with transport_for(self.settings, auth, self.wire) as transport:
            queue: asyncio.Queue[Chosen] = asyncio.Queue()
            for item in todo:
                queue.put_nowait(item)
            self._tasks = [asyncio.create_task(self._reader(queue, transport))
                           for _ in range(max(1, self.settings.concurrency))]
            results = await asyncio.gather(*self._tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, RunAborted):
                return EXIT_ABORTED, str(result)
            if isinstance(result, BaseException) and not isinstance(
                    result, asyncio.CancelledError):
                raise result
        return None, ""

    async def _reader(self, queue: asyncio.Queue[Chosen], transport: Transport) -> None:
        while not self.stopping:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            try:
                verdict = await self._verdict(item, transport)
            except RunAborted:
                self.stopping = True   # the other readers stop too: nothing more is sent
                raise
            if verdict is None:   # stopped before it could be judged: the next verify
                return
            self._write(item, verdict)

    def _write(self, item: Chosen, verdict: Verdict) -> None:
        entry: dict[str, Any] = {"line": item.line, "ref": item.record.get("ref"),
                                 "customer": item.record.get("customer"), "why": item.why,
                                 "verdict": verdict.verdict}
        if verdict.reason:
            entry["reason"] = verdict.reason
        if item.superseded_by is not None:
            entry["superseded_by"] = item.superseded_by
        if verdict.programs:
            entry["programs"] = verdict.programs
        entry["input"] = item.record
        self.vfile.append(entry)
        if self.check is not None:   # matches confirms; an unchanged one differing drifted
            self.check.judged(item, verdict)
        self.watch.judged()
        self.log.debug("verify.verdict", line=item.line, verdict=verdict.verdict)
        if self.on_result is not None:
            self.on_result(entry)

    async def _verdict(self, item: Chosen, transport: Transport) -> Verdict | None:
        if item.superseded_by is not None:
            return Verdict("superseded", f"line {item.superseded_by} updates the same "
                           "customer's program later; that line is the one compared")
        asked = item.record.get("customer")
        ident = read_identifier(asked)
        if ident is None:
            return Verdict("unverifiable", "the record names no identifier to read by")
        attempts, waited = 0, 0.0
        query = self.endpoint.query(ident)
        while not self.stopping:
            sent_at = await self.throttle.acquire()
            answer = read_answer(await transport.request("GET", self.endpoint.path,
                                                         params=query),
                                 asked if type(asked) is dict else {})
            attempts += 1
            self.requests += 1
            self.watch.answered(answer.status)
            if answer.kind is ReadKind.STATE:
                self.throttle.clean()
                assert answer.programs is not None
                return judge(item.record, Held(answer.programs, answer.complete,
                                               datetime.now(UTC)), self.api)
            if answer.kind is ReadKind.NOT_FOUND:
                return Verdict("unverifiable", answer.reason)
            if answer.kind is ReadKind.FATAL:
                raise RunAborted(f"verify: {answer.reason}", status=answer.status)
            wait = self.retry.next_wait(attempts, waited, answer.retry_after)
            if answer.throttled:
                self.throttle.throttled(sent_at, wait.paced)
            if wait.gave_up is not None:
                return Verdict("failed", f"{answer.reason} (gave up: {wait.gave_up}, "
                               f"{attempts} attempts)")
            self.log.info("verify.retry", line=item.line, reason=answer.reason,
                          attempt=attempts, wait_s=round(wait.delay, 3))
            await asyncio.sleep(wait.delay)
            waited += wait.delay
        return None


__all__ = ["VERDICTS", "VerifySummary", "averify", "verify"]
