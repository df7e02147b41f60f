"""A run from start to exit code: run directory, session, signals, summary.

This is the library's entry point (``bulkupdate.run`` and ``bulkupdate.resume``);
the CLI only turns arguments into :class:`Settings` and calls it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from . import logs
from .auth import Auth
from .errors import RunAborted, UsageError
from .ledger import EVENTS, Ledger, default_run_dir, now_iso
from .pipeline import Pipeline
from .progress import progress_bar
from .send import Client
from .settings import Settings
from .source import count_records, spool_stdin

EXIT_OK, EXIT_NOT_OK, EXIT_ABORTED, EXIT_INTERRUPTED = 0, 1, 3, 130


@dataclass(frozen=True)
class RunResult:
    exit_code: int
    run_dir: Path
    summary: dict[str, Any]
    reason: str = ""


def run(input_path: str | Path, settings: Settings, run_dir: Path | None = None) -> RunResult:
    """Start a new run of ``input_path`` (``"-"`` reads standard input)."""
    Auth(settings.credentials, settings.base_url)  # no credentials: usage error, nothing sent
    from_stdin = str(input_path) == "-"
    path = Path("stdin.jsonl") if from_stdin else Path(input_path)
    if not from_stdin and not path.is_file():
        raise UsageError(f"input file {path} does not exist")
    run_dir = run_dir or default_run_dir(path)
    if from_stdin:
        run_dir.mkdir(parents=True, exist_ok=True)
        path = spool_stdin(run_dir / "input.jsonl")
    ledger = Ledger.create(run_dir, path, settings.public(), from_stdin=from_stdin)
    return _execute(ledger, settings)


def resume(run_dir: Path, settings: Settings) -> RunResult:
    """Finish an interrupted or aborted run: skip what has a result, send the rest."""
    Auth(settings.credentials, settings.base_url)
    ledger = Ledger.reopen(run_dir)
    return _execute(ledger, settings)


def _execute(ledger: Ledger, settings: Settings) -> RunResult:
    logs.configure(level=settings.log_level, events_path=ledger.dir / EVENTS,
                   mask=settings.mask_pii)
    log = structlog.get_logger("bulkupdate")
    started_at, started = now_iso(), time.monotonic()
    session = ledger.begin_session(started_at)
    show = sys.stderr.isatty() if settings.progress is None else settings.progress
    # Counting costs a pass over the input: only for a bar someone will see.
    total = count_records(ledger.input_path) if show else None
    bar = progress_bar(total, show, initial=ledger.done.count)
    try:
        state, stats, input_records, abort = _loop_run(_session(ledger, settings, bar.update))
    finally:
        bar.close()
    reason = str(abort) if abort else ""
    code = EXIT_ABORTED if abort else EXIT_INTERRUPTED if state == "interrupted" else None
    stats.update(ended_at=now_iso(), duration_s=round(time.monotonic() - started, 3),
                 exit_code=code)
    ledger.end_session(session, stats)
    summary = ledger.finalize(input_records)
    if code is None:
        code = EXIT_OK if summary["outcomes"]["ok"] == summary["input_records"] else EXIT_NOT_OK
        if not summary["complete"]:
            # The invariant failed. Say so loudly and never exit 0.
            log.error("run.incomplete", results=summary["results"],
                      input_records=summary["input_records"])
            code = EXIT_NOT_OK
    session["exit_code"] = summary["exit_code"] = code
    ledger.save(summary)
    log.info("run.finished", exit_code=code, **summary["outcomes"],
             requests=stats.get("requests"), duration_s=stats["duration_s"])
    logs.close()
    return RunResult(code, ledger.dir, summary, reason)


def _loop_run(coro: Any) -> Any:
    # Every record allocates a few short-lived dicts; with the default threshold
    # the collector runs every 700 allocations and rescans the window each time.
    # Long-lived start-up objects are frozen out of its sight altogether; the
    # older generations still run often enough that cyclic garbage (aiohttp leaves
    # some per request) cannot pile up over a run of millions.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 10, 10)
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


async def _session(ledger: Ledger, settings: Settings, on_results: Any
                   ) -> tuple[str, dict[str, Any], int | None, RunAborted | None]:
    """(state, session figures, input records if all were read, the abort if any):
    an aborted session's figures belong in the manifest as much as a finished one's."""
    auth = Auth(settings.credentials, settings.base_url)
    abort: RunAborted | None = None
    state = "aborted"
    async with Client(settings, auth) as client:
        pipeline = Pipeline(settings, ledger, client, on_results=on_results)
        with _signals(pipeline):
            try:
                state = await pipeline.run()
            except RunAborted as exc:
                abort = exc
        return state, pipeline.stats.as_session(), pipeline.input_records, abort


@contextlib.contextmanager
def _signals(pipeline: Pipeline) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    received: list[int] = []

    def handle(signum: int) -> None:
        received.append(signum)
        if len(received) == 1:
            structlog.get_logger("bulkupdate").warning(
                "run.stopping", signal=signal.Signals(signum).name,
                hint="in-flight requests finish; a second signal cuts them short")
            pipeline.stop()
        else:
            pipeline.cut_short()

    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, handle, sig)
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
