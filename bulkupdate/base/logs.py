"""Structured logs for one run: a logger bound to that run alone, writing JSON lines
to its ``events.jsonl`` and forwarding each event to the stdlib logger
``bulkupdate``, where a host (or the CLI) decides what to show.

Nothing here touches structlog's process-wide configuration: every run wraps its
own processor chain, so several runs in one process (one loop or several threads)
log to their own files, and a host's own structlog setup is left as it was.
Events have stable, namespaced names (``batch.retry``, ``run.finished``) and flat
fields. Mobile numbers and emails are masked unless the user turns masking off;
credentials never reach a log call at all.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import orjson
import structlog

from .safefiles import append_whole, open_append

PII_KEYS = frozenset({"mobile", "email"})
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
          "error": logging.ERROR}
STDLIB_NAME = "bulkupdate"

Logger = Any   # a structlog filtering bound logger; its methods are made at run time


def mask_value(key: str, value: Any) -> Any:
    if not isinstance(value, str) or not value:
        return value
    if key == "email":
        name, _, domain = value.partition("@")
        return f"{name[:1]}***@{domain}" if domain else "***"
    return "*" * max(0, len(value) - 4) + value[-4:]


# In free text (an error built from an answer, a traceback): an email, or a run of
# 10 to 15 digits (a mobile number with its country code; ids and counts are shorter).
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_MOBILE = re.compile(r"(?<![\w.])\+?\d{6,11}(\d{4})(?![\w.])")


def mask_text(text: str) -> str:
    """``text`` with anything that looks like an email or a mobile number masked."""
    text = _EMAIL.sub(lambda m: mask_value("email", m.group()), text)
    return _MOBILE.sub(lambda m: "*" * (len(m.group()) - 4) + m.group(1), text)


def mask_pii(data: Any) -> Any:
    """A copy of ``data`` with every mobile and email masked, however deep,
    including those inside free text."""
    if isinstance(data, dict):
        return {k: mask_value(k, v) if k in PII_KEYS else mask_pii(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [mask_pii(v) for v in data]
    if isinstance(data, str):
        return mask_text(data)
    return data


def _masking(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    masked: dict[str, Any] = mask_pii(event)
    return masked


def render_line(method: str, event: dict[str, Any]) -> str:
    """``warning: batch.retry status=503 ...``: the short form for a terminal."""
    fields = " ".join(f"{k}={v}" for k, v in event.items()
                      if k not in ("event", "level", "timestamp"))
    return f"{method}: {event.get('event')} {fields}".rstrip()


def render_event(fmt: str, method: str, event: dict[str, Any]) -> str:
    """One stderr line: ``json`` is the events.jsonl line itself (one object per
    line, for a log collector), ``text`` the short form for people."""
    if fmt == "json":
        return orjson.dumps(event, default=str).decode()
    return render_line(method, event)


def stderr_event(fmt: str, level: str, name: str, stream: TextIO | None = None,
                 **fields: Any) -> None:
    """An event from outside a run (the CLI's own warnings and errors), rendered
    like the run's, so a json stderr stays all JSON."""
    from datetime import UTC, datetime

    event = {"event": name, **mask_pii(fields), "level": level,
             "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z")}
    print(render_event(fmt, level, event), file=stream or sys.stderr, flush=True)


class _Sink:
    """The last processor: JSON to this run's events file, then the stdlib logger
    ``bulkupdate`` (the event as ``record.bulkupdate``, the run directory as
    ``record.run_dir``) when it is enabled for the level."""

    def __init__(self, events: BinaryIO | None, run_dir: str) -> None:
        self._events = events
        self._run_dir = run_dir
        self.lost = 0   # events the file could not take
        self._stdlib = logging.getLogger(STDLIB_NAME)

    def __call__(self, _: Any, method: str, event: dict[str, Any]) -> str:
        if self._events is not None and not self._events.closed:
            try:
                append_whole(self._events, orjson.dumps(event, default=str) + b"\n")
            except OSError:
                # The events file shares the run directory's disk: an event it
                # cannot take (disk full) is lost there, never the run with it.
                # The stdlib logger below still gets it (stderr, for the CLI).
                self.lost += 1
        level = LEVELS.get(method, logging.INFO)
        if self._stdlib.isEnabledFor(level):
            self._stdlib.log(level, "%s", render_line(method, event),
                             extra={"bulkupdate": event, "run_dir": self._run_dir})
        raise structlog.DropEvent


class RunLog:
    """The log of one run: ``.log`` is its bound logger; ``close()`` ends it."""

    def __init__(self, events_path: Path | None, *, level: str = "info",
                 mask: bool = True) -> None:
        # 0600, and never through a symbolic link: the run directory is private.
        self._file = open_append(events_path) if events_path is not None else None
        processors: list[Any] = [structlog.processors.add_log_level,
                                 structlog.processors.TimeStamper(fmt="iso", utc=True)]
        if mask:
            processors.append(_masking)
        run_dir = str(events_path.parent) if events_path is not None else ""
        processors.append(_Sink(self._file, run_dir))
        # A filtering logger makes a disabled level a no-op method: debug calls on
        # the hot path cost one attribute lookup. bind(): a concrete logger now,
        # never the lazy proxy that would consult the global configuration.
        self.log: Logger = structlog.wrap_logger(
            structlog.ReturnLogger(), processors=processors, context_class=dict,
            wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level]),
            cache_logger_on_first_use=False).bind()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def _drop(_: Any, __: str, ___: MutableMapping[str, Any]) -> str:
    raise structlog.DropEvent


def null_logger() -> Logger:
    """A logger that drops everything: for pieces used outside a run."""
    return structlog.wrap_logger(structlog.ReturnLogger(), processors=[_drop],
                                 context_class=dict, cache_logger_on_first_use=False,
                                 wrapper_class=structlog.make_filtering_bound_logger(
                                     logging.ERROR)).bind()
