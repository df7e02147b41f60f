"""The library's entry points: ``arun``/``aresume`` (the async core) take a source
and settings to a :class:`RunResult`; ``run``/``resume`` wrap them for callers
without an event loop. ``alink``/``link`` are ``arun``/``run`` for the Link Customer
API: the same engine, given :data:`~bulkupdate.base.endpoint.LINK`; the run
directory records the API, so ``aresume`` and the report need not be told.
``adelink``/``delink`` likewise for the delink API (:data:`~bulkupdate.capillary.
endpoint.DELINK`), with the plan counted and the ``max_delinks`` guard checked
before anything is sent (:mod:`bulkupdate.planning.delinks`).

A guest in the caller's process: no logging configuration, GC tuning, signal
handler or loop policy. Each run logs through its own logger to its own
``events.jsonl``; the CLI, which owns its process, opts in to the rest
(:mod:`bulkupdate.cli.process`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
import uuid
from collections.abc import Callable, Collection, Coroutine
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from ..base.endpoint import DELINK, LINK, UPDATE, Endpoint, endpoint_named
from ..base.logs import Logger, RunLog
from ..base.retry import RetryPolicy
from ..capillary.auth import Auth
from ..capillary.client import Client
from ..engine.crash import crashed, reraise
from ..engine.pipeline import Pipeline
from ..errors import BulkUpdateError, DiskFull, RunAborted, UsageError
from ..planning.delinks import (
    DEFAULT_MAX_DELINKS_WITH_STORE,
    DelinkPlan,
    MaxDelinks,
    check_max_delinks,
    plan_file,
    plan_to_send,
    store_linked_counts,
)
from ..planning.marks import Marks
from ..planning.night import OnPlan, end_night, open_store_for, plan_night, resume_night
from ..results import RecordResult, RunResult, Summary
from ..rundir import EVENTS, Ledger, default_run_dir, now_iso
from ..rundir.lock import RunLock
from ..rundir.private import abandon, prepare
from ..settings import Settings, load_settings
from ..source.lines import count_records, is_csv, iter_lines, scan_input
from ..source.prepare import check_encoding, prepare_input
from ..source.sniff import sniff_input
from ..source.spool import Source, check_source
from .control import Control
from .exitcode import exit_code_of
from .progress import Watch, progress_bar

OnResult = Callable[[RecordResult], Any]
T = TypeVar("T")

__all__ = ["RunResult", "adelink", "alink", "aresume", "arun", "delink", "link", "resume",
           "run"]


async def arun(source: Source, settings: Settings, *, run_dir: str | Path | None = None,
               on_result: OnResult | None = None, control: Control | None = None,
               records: int | None = None, on_plan: OnPlan | None = None,
               ignore_columns: Collection[str] = (), encoding: str | None = None) -> RunResult:
    """Start a new run of ``source``: a path, ``"-"`` (standard input), or any
    iterable or async iterable of records (``dict``) or JSONL lines. Everything
    is checked before the run directory is created.

    ``on_result`` is called on the event loop, once per final result as it is
    written: it must not block (hand slow work to a queue or a thread).
    ``records``: how many records the path holds, when the caller has counted
    them already (the CLI does, for its estimate): the run does not count again.
    ``on_plan``: with a state store (``settings.state``), given the plan's lines
    before anything is sent.
    ``ignore_columns``: extra columns of a CSV input to leave unread (any other
    unknown column is a usage error); ``encoding``: the input's, when it is not
    UTF-8 (``"WINDOWS-1252"``). The run then reads a copy: without those columns,
    in UTF-8."""
    return await _start(source, settings, UPDATE, run_dir, on_result, control,
                        _Intake(records, on_plan=on_plan, ignore=tuple(ignore_columns),
                                encoding=encoding))


async def alink(source: Source, settings: Settings, *, run_dir: str | Path | None = None,
                on_result: OnResult | None = None, control: Control | None = None,
                records: int | None = None, on_plan: OnPlan | None = None,
                ignore_columns: Collection[str] = (), encoding: str | None = None) -> RunResult:
    """:func:`arun` for the Link Customer API: each record is an item of
    ``linkCustomers`` (plus the optional ``ref``), checked by
    :func:`~bulkupdate.source.validate.validate_link_line`; the rules are ``arun``'s."""
    return await _start(source, settings, LINK, run_dir, on_result, control,
                        _Intake(records, on_plan=on_plan, ignore=tuple(ignore_columns),
                                encoding=encoding))


async def adelink(source: Source, settings: Settings, *, run_dir: str | Path | None = None,
                  on_result: OnResult | None = None, control: Control | None = None,
                  max_delinks: str | int | MaxDelinks | None = None,
                  on_delinks: Callable[[DelinkPlan], Any] | None = None,
                  batch_size_chosen: bool = False, records: int | None = None,
                  on_plan: OnPlan | None = None, ignore_columns: Collection[str] = (),
                  encoding: str | None = None) -> RunResult:
    """:func:`arun` for the delink API: each record is an item of ``deLinkCustomers``
    (plus the optional ``ref``). Before anything is sent, the delinks are counted
    (``on_delinks`` gets them) and ``max_delinks`` (``N`` memberships, or ``"P%"`` of
    the keys the state store holds linked in each program; with a store, 10% unless
    given) refuses a larger night with a UsageError. ``batch_size_chosen``:
    ``settings.batch_size`` was chosen, and is kept even when answers come back short
    (a size below the most always is). The other arguments are :func:`arun`'s."""
    guard = None if max_delinks is None else MaxDelinks.parse(max_delinks)
    if guard is None and settings.state:
        guard = MaxDelinks.parse(DEFAULT_MAX_DELINKS_WITH_STORE)

    def check(path: Path, store: Any) -> None:
        plan = plan_file(path)
        if on_delinks is not None:
            on_delinks(plan)
        if guard is not None:
            counted = plan if store is None else plan_to_send(path, store)
            check_max_delinks(counted, guard, store_linked_counts(store, counted.per_program))

    return await _start(source, settings, DELINK, run_dir, on_result, control, _Intake(
        records, check, {"batch_size_chosen": True} if batch_size_chosen else None,
        on_plan=on_plan, ignore=tuple(ignore_columns), encoding=encoding))


@dataclass(frozen=True)
class _Intake:
    """How :func:`_start` takes its input in. ``records``: the input's count, when the
    caller counted it; ``check``: the input (once saved) and the state store (None
    without one) are looked at before the ledger is made; ``noted``: more for the
    manifest (what a resume must know); ``on_plan``: the state store's plan;
    ``ignore``/``encoding``: the run reads a copy without those CSV columns, in UTF-8."""

    records: int | None = None
    check: Callable[[Path, Any], None] | None = None
    noted: dict[str, Any] | None = None
    on_plan: OnPlan | None = None
    ignore: tuple[str, ...] = ()
    encoding: str | None = None


async def _start(source: Source, settings: Settings, endpoint: Endpoint,
                 run_dir: str | Path | None, on_result: OnResult | None,
                 control: Control | None, how: _Intake) -> RunResult:
    check_settings(settings)
    intake = check_source(source)
    api = endpoint.name
    ignore, encoding = how.ignore, how.encoding
    if ignore and (intake.path is None or not is_csv(intake.path)):
        raise UsageError("--ignore-column is for a CSV input file")
    if encoding is not None:
        check_encoding(encoding)
    # A damaged file is refused before anything is created (a spooled one, once saved).
    scanned = (await asyncio.to_thread(scan_input, intake.path, api, ignore)
               if intake.path and not encoding else None)
    if intake.path is not None:
        _check_not_empty(intake.path, str(intake.path), settings, api, ignore)
        sniff_input(intake.path, str(intake.path), api, encoding=encoding)
    store = await asyncio.to_thread(open_store_for, settings)   # None without --state
    target, created, lock = _claimed(run_dir, intake.stem, store)
    marks: Marks | None = None
    try:
        path = await intake.materialize(target)
        if ignore or encoding:   # the run reads a copy: resume and retry need not know
            path = await asyncio.to_thread(prepare_input, path, target, encoding=encoding,
                                           ignore=ignore)
            scanned = None
        if intake.path is None:
            _check_not_empty(path, "standard input" if intake.kind == "stdin" else "the source",
                             settings, api)
            sniff_input(path, "standard input" if intake.kind == "stdin" else "the source", api)
        if how.check is not None:
            await asyncio.to_thread(how.check, path, store)
        run_id = uuid.uuid4().hex
        if store is not None:
            # The plan, before the directory is a run: refused, it is removed.
            marks = await plan_night(store, settings, path, api, run_id=run_id,
                                     run_dir=target, on_plan=how.on_plan,
                                     lines_hint=scanned[1] if scanned else None)
            # The store's scope goes in the manifest: resume and verify find it.
            settings = replace(settings, state_scope=settings.scope)
        ledger = await asyncio.to_thread(Ledger.create, target, path, settings.public(),
                                         from_stdin=intake.kind == "stdin",
                                         spooled=intake.kind != "file" or path != intake.path,
                                         lock=lock, scanned=scanned, api=api, run_id=run_id)
        if how.noted:
            ledger.manifest.update(how.noted)
            ledger.save()
    except BaseException:
        lock.release()
        abandon(target, remove_dir=created)   # what this call made, and nothing else
        if store is not None:
            store.close()
        raise
    # A count of the caller's file holds for a saved copy of it, not for another source.
    return await _execute(ledger, settings, on_result, control,
                          how.records if intake.kind == "file" else None, marks)


def _claimed(run_dir: str | Path | None, stem: Path,
             store: Any) -> tuple[Path, bool, RunLock]:
    """The run directory, made (``created``: by this call) and locked. Refused, it
    closes the store opened before it: no connection stays open to it."""
    try:
        target = claim_run_dir(default_run_dir(stem)) if run_dir is None else Path(run_dir)
        created = prepare(target, new=True) or run_dir is None
        return target, created, RunLock.acquire(target)
    except BaseException:
        if store is not None:
            store.close()
        raise


async def aresume(run_dir: str | Path, settings: Settings | None = None, *,
                  on_result: OnResult | None = None,
                  control: Control | None = None) -> RunResult:
    """Finish an interrupted or aborted run: skip what has a result, send the rest.
    ``settings=None`` reuses the run's own, with credentials from the environment."""
    run_dir = Path(run_dir)
    if settings is None:
        settings = own_settings(run_dir)
    ledger = await asyncio.to_thread(Ledger.reopen, run_dir)
    finished = _finished(ledger, settings)
    if finished is not None:   # nothing to send: no credentials needed to say so
        ledger.release()
        return finished
    marks: Marks | None = None
    try:
        check_settings(settings)
        store = await asyncio.to_thread(open_store_for, settings)   # the run's own, if any
        if store is not None:
            marks = await resume_night(store, ledger.manifest["run_id"], run_dir, ledger.api)
    except BaseException:
        ledger.release()
        raise
    return await _execute(ledger, settings, on_result, control, marks=marks)


def _warn_if_seen_before(ledger: Ledger, settings: Settings, log: Logger) -> None:
    """The same input (by content) already finished beside this run: say which run
    (``input.seen_before``), send anyway. Not for a run's own follow-up files, nor
    with a state store (it skips what is already confirmed)."""
    from ..rundir.siblings import FOLLOW_UPS, finished_with

    if Path(ledger.manifest["input"]).name in FOLLOW_UPS or getattr(settings, "state", None):
        return
    earlier = finished_with(ledger.dir.parent, ledger.manifest["input_fingerprint"], ledger.dir)
    if earlier is not None:
        log.warning("input.seen_before", run=str(earlier),
                    message=f"this input (same content) already finished in {earlier}: "
                            "it is sent again")


def _check_not_empty(path: Path, name: str, settings: Settings, api: str,
                     ignore: Collection[str] = ()) -> None:
    """An empty input is most often an upstream export that failed: not a green night."""
    if not settings.allow_empty and next(iter_lines(path, api=api, ignore=ignore),
                                         None) is None:
        raise UsageError(f"no records in {name} (--allow-empty if that is normal)")


def _finished(ledger: Ledger, settings: Settings) -> RunResult | None:
    """A run whose every record has a result: nothing to do, and no new session."""
    from ..rundir.readback import read_summary

    summary = read_summary(ledger.dir)   # this process holds the lock
    if not summary.get("complete") or ledger.done.count != summary.get("input_records"):
        return None
    code = exit_code_of(summary, settings.allow_failures)
    return RunResult(code, ledger.dir, Summary.from_dict(summary), nothing_to_do=True)


def run(source: Source, settings: Settings, *, run_dir: str | Path | None = None,
        on_result: OnResult | None = None, control: Control | None = None,
        on_plan: OnPlan | None = None, ignore_columns: Collection[str] = ()) -> RunResult:
    """:func:`arun` on an event loop of its own (a worker thread will do)."""
    return on_own_loop("run", lambda: arun(source, settings, run_dir=run_dir,
                                           on_result=on_result, control=control,
                                           on_plan=on_plan, ignore_columns=ignore_columns))


def link(source: Source, settings: Settings, *, run_dir: str | Path | None = None,
         on_result: OnResult | None = None, control: Control | None = None,
         on_plan: OnPlan | None = None) -> RunResult:
    """:func:`alink` on an event loop of its own (a worker thread will do)."""
    return on_own_loop("link", lambda: alink(source, settings, run_dir=run_dir,
                                             on_result=on_result, control=control,
                                             on_plan=on_plan))


def delink(source: Source, settings: Settings, *, run_dir: str | Path | None = None,
           on_result: OnResult | None = None, control: Control | None = None,
           max_delinks: str | int | MaxDelinks | None = None,
           on_delinks: Callable[[DelinkPlan], Any] | None = None,
           batch_size_chosen: bool = False, on_plan: OnPlan | None = None) -> RunResult:
    """:func:`adelink` on an event loop of its own (a worker thread will do)."""
    return on_own_loop("delink", lambda: adelink(
        source, settings, run_dir=run_dir, on_result=on_result, control=control,
        max_delinks=max_delinks, on_delinks=on_delinks, batch_size_chosen=batch_size_chosen,
        on_plan=on_plan))


def resume(run_dir: str | Path, settings: Settings | None = None, *,
           on_result: OnResult | None = None, control: Control | None = None) -> RunResult:
    """:func:`aresume` on an event loop of its own."""
    return on_own_loop("resume", lambda: aresume(run_dir, settings, on_result=on_result,
                                                 control=control))


def own_settings(run_dir: Path) -> Settings:
    """The settings a run was started with (its manifest), credentials from the
    environment: they are never written to the run directory."""
    from ..rundir.readback import load

    manifest, _ = load(run_dir)
    env = {k: v for k, v in os.environ.items() if k.startswith("CAPILLARY_")}
    return load_settings({}, config_path=None, env=env, base=manifest.get("settings"))


def claim_run_dir(wanted: Path) -> Path:
    """``wanted``, or ``wanted-2``, ``-3``…: created here, so two runs started in
    the same second (in one process or two) never share a directory."""
    for n in range(1, 1000):
        candidate = wanted if n == 1 else wanted.with_name(f"{wanted.name}-{n}")
        try:
            candidate.mkdir(parents=True)
        except FileExistsError:
            continue
        return candidate
    raise UsageError(f"cannot create a run directory next to {wanted}: choose one with run_dir")


def on_own_loop(name: str, start: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """The sync wrappers (``run``, ``link``, ``resume``, ``verify``): ``start()``'s
    coroutine on an event loop of its own. Inside a running loop, it raises before
    anything is created (the coroutine included)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass   # none running: the expected case
    else:
        raise UsageError(f"bulkupdate.{name}() was called inside a running event loop: "
                         f"use 'await bulkupdate.a{name}(...)' there")
    with asyncio.Runner() as runner:
        return runner.run(start())


def check_settings(settings: Settings) -> None:
    """Settings of the right type, with credentials: checked before any lock is taken."""
    if not isinstance(settings, Settings):
        raise UsageError(f"settings must be bulkupdate.Settings, not {type(settings).__name__}")
    Auth(settings.credentials)   # none: a usage error, nothing created


async def _execute(ledger: Ledger, settings: Settings, on_result: OnResult | None,
                   control: Control | None, records: int | None = None,
                   marks: Marks | None = None) -> RunResult:
    try:
        try:
            return await _owned_session(ledger, settings, on_result, control, records, marks)
        finally:
            await _close_store(marks)
    except BulkUpdateError:
        raise
    except Exception as exc:
        # Past this point requests may have left: the traceback goes to
        # events.jsonl and a note on the exception says the run is resumable.
        abort = crashed(exc, ledger.dir / EVENTS)
        if isinstance(abort, DiskFull):   # closing the session met a full disk
            raise abort from exc
        raise
    finally:
        ledger.release()


async def _close_store(marks: Marks | None) -> None:
    """The session's results into the store, the lease given back. A store that
    fails here loses nothing: the next run, resume or verify replays the ledger."""
    if marks is None:
        return
    with contextlib.suppress(Exception):
        await end_night(marks)
    marks.store.close()


async def _owned_session(ledger: Ledger, settings: Settings, on_result: OnResult | None,
                         control: Control | None, records: int | None,
                         marks: Marks | None = None) -> RunResult:
    run_log = RunLog(ledger.dir / EVENTS, level=settings.log_level, mask=settings.mask_pii)
    log = run_log.log
    if not ledger.manifest["sessions"]:
        _warn_if_seen_before(ledger, settings, log)
    try:
        started = time.monotonic()
        show = sys.stderr.isatty() if settings.progress is None else settings.progress
        # A pass over the input (unless the caller made it), for the bar's, the
        # heartbeat's and run.started's total and ETA.
        total = records if records is not None else await asyncio.to_thread(
            count_records, ledger.input_path)
        watch = Watch(ledger, total, len(ledger.manifest["sessions"]) + 1)
        metrics = _metrics(watch, settings, log)
        session = ledger.begin_session(now_iso(), **_changed(ledger, settings))
        bar = progress_bar(total, show, initial=ledger.done.count, watch=watch)
        try:
            state, stats, input_records, abort = await _session(
                ledger, settings, log, bar.update, _typed(on_result), control, watch,
                heartbeat=not show, marks=marks)
        finally:
            bar.close()
            if metrics is not None:
                metrics.stop()
        closed = {"aborted": abort is not None, "interrupted": state == "interrupted"}
        stats.update(ended_at=now_iso(), duration_s=round(time.monotonic() - started, 3),
                     exit_code=exit_code_of({}, **closed) if any(closed.values()) else None)
        ledger.end_session(session, stats)
        summary = await asyncio.to_thread(ledger.finalize, input_records)
        code = _exit_code(summary, log, settings, **closed)
        session["exit_code"] = code
        summary = replace(summary, exit_code=code)
        ledger.save(summary)
        log.info("run.finished", exit_code=code, **summary.outcomes,
                 requests=stats.get("requests"), duration_s=stats["duration_s"])
        watch.exit_code = code
        if metrics is not None and settings.metrics_file:
            metrics.write(settings.metrics_file, log)
    finally:
        run_log.close()
    reraise(abort)   # a bug or a host's exception, now that the session is closed
    return RunResult(code, ledger.dir, summary, abort)


def _exit_code(summary: Summary, log: Logger, settings: Settings, *,
               aborted: bool, interrupted: bool) -> int:
    if not (aborted or interrupted or summary.complete):
        # The invariant failed. Say so loudly (exit_code_of() never exits 0 on it).
        log.error("run.incomplete", results=summary.results,
                  input_records=summary.input_records)
    return exit_code_of(summary.to_dict(), settings.allow_failures, aborted=aborted,
                        interrupted=interrupted)


def _metrics(watch: Watch, settings: Settings, log: Logger) -> Any:
    if not settings.wants_metrics:
        return None
    from .metrics import run_metrics  # prometheus_client only when asked for

    return run_metrics(watch, settings, log)


def _changed(ledger: Ledger, settings: Settings) -> dict[str, Any]:
    """Settings this session runs with that differ from the run's own (a resume
    against another --base-url, a lower --rate ...): the session records them."""
    before = ledger.manifest["settings"]
    changed = {k: v for k, v in settings.public().items()
               if k in before and before[k] != v and k not in ("progress", "log_format")}
    return {"settings_changed": changed} if changed else {}


def _typed(on_result: OnResult | None) -> Callable[[list[RecordResult]], None] | None:
    if on_result is None:
        return None

    def deliver(results: list[RecordResult]) -> None:
        for result in results:
            on_result(result)

    return deliver


class _Stopper:
    """What a :class:`Control` stops: this run's pipeline, saying so in its log."""

    def __init__(self, pipeline: Pipeline, log: Logger, control: Control) -> None:
        self._pipeline, self._log, self.control = pipeline, log, control

    def stop(self) -> None:
        self._log.warning("run.stopping", signal=self.control.why or None,
                          hint="in-flight requests finish; a second signal cuts them short")
        self._pipeline.stop()

    def cut_short(self) -> None:
        self._pipeline.cut_short()


async def _session(ledger: Ledger, settings: Settings, log: Logger,
                   on_results: Callable[[int], Any],
                   on_written: Callable[[list[RecordResult]], None] | None,
                   control: Control | None, watch: Watch, *, heartbeat: bool,
                   marks: Marks | None = None,
                   ) -> tuple[str, dict[str, Any], int | None, RunAborted | None]:
    """(state, session figures, input records if all were read, the abort if any):
    an aborted session's figures belong in the manifest as much as a finished one's."""
    auth = Auth(settings.credentials, log, retry=RetryPolicy.from_settings(settings))
    abort: RunAborted | None = None
    state = "aborted"
    # The API the run directory records (an old one's is the update API).
    async with Client(settings, auth, endpoint_named(ledger.api),
                      on_answer=watch.answered) as client:
        pipeline = Pipeline(settings, ledger, client, on_results=on_results,
                            on_written=on_written, log=log, records=watch.total,
                            marks=marks)
        stopper = _Stopper(pipeline, log, control or Control())
        stopper.control.attach(stopper)
        try:
            async with watch.running(pipeline, settings, log if heartbeat else None):
                state = await pipeline.run()
        except RunAborted as exc:
            abort = exc
        except Exception as exc:   # a bug or a full disk: finish the session, then say why
            abort = crashed(exc, ledger.dir / EVENTS)
        finally:
            stopper.control.detach(stopper)
        return state, pipeline.stats.as_session(), pipeline.input_records, abort

