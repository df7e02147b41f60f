"""Structured logs: stable, namespaced events (``batch.retry``, ``run.finished``)
with flat fields, written as JSON lines to the run directory's ``events.jsonl``;
warnings and errors are echoed to stderr. Mobile numbers and emails are masked
unless the user turns masking off; credentials never reach a log call at all.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, TextIO

import orjson
import structlog

PII_KEYS = frozenset({"mobile", "email"})
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
          "error": logging.ERROR}


def mask_value(key: str, value: Any) -> Any:
    if not isinstance(value, str) or not value:
        return value
    if key == "email":
        name, _, domain = value.partition("@")
        return f"{name[:1]}***@{domain}" if domain else "***"
    return "*" * max(0, len(value) - 4) + value[-4:]


def mask_pii(data: Any) -> Any:
    """A copy of ``data`` with every mobile and email masked, however deep."""
    if isinstance(data, dict):
        return {k: mask_value(k, v) if k in PII_KEYS else mask_pii(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [mask_pii(v) for v in data]
    return data


def _masking(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    masked: dict[str, Any] = mask_pii(event)
    return masked


class _Tee:
    """The last processor: JSON to the events file, a short line to stderr for
    warnings and errors (through tqdm, so a progress bar is not torn)."""

    def __init__(self, events: TextIO | None, echo_level: int, stderr: TextIO) -> None:
        self._events = events
        self._echo = echo_level
        self._stderr = stderr

    def __call__(self, _: Any, method: str, event: dict[str, Any]) -> str:
        if self._events is not None:
            self._events.write(orjson.dumps(event, default=str).decode() + "\n")
            self._events.flush()
        if LEVELS.get(method, logging.INFO) >= self._echo:
            fields = " ".join(f"{k}={v}" for k, v in event.items()
                              if k not in ("event", "level", "timestamp"))
            line = f"{method}: {event.get('event')} {fields}".rstrip()
            try:
                from tqdm import tqdm

                tqdm.write(line, file=self._stderr)
            except ImportError:  # pragma: no cover - tqdm is a dependency
                print(line, file=self._stderr)
        raise structlog.DropEvent


_events_file: TextIO | None = None


def configure(*, level: str = "info", events_path: Path | None = None, mask: bool = True,
              echo_level: str = "warning", stderr: TextIO | None = None) -> None:
    global _events_file
    close()
    if events_path is not None:
        _events_file = events_path.open("a", encoding="utf-8")
    processors: list[Any] = [structlog.processors.add_log_level,
                             structlog.processors.TimeStamper(fmt="iso", utc=True)]
    if mask:
        processors.append(_masking)
    processors.append(_Tee(_events_file, LEVELS[echo_level], stderr or sys.stderr))
    structlog.configure(
        processors=processors,
        # A filtering logger makes a disabled level a no-op method: debug calls on
        # the hot path cost one attribute lookup.
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level]),
        cache_logger_on_first_use=False,
    )


def close() -> None:
    global _events_file
    if _events_file is not None:
        _events_file.close()
        _events_file = None
