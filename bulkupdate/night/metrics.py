"""Prometheus metrics of one run, with the ``prometheus-client`` package.

Each run has its own :class:`CollectorRegistry` (never the global one: several
runs may share a process). Every series is produced at scrape time by one
collector, from the live :class:`~bulkupdate.night.progress.Watch` and the run's
manifest, so a scrape always agrees with the ledger, and no ``_created`` series
is exposed (a run's counters start with the run, and ``run_info`` says which).
Every counter covers the same scope: the run, all its sessions.

==========================================  =======  ===================================
``bulkupdate_run_info{run_id,version,input}``  gauge  1; the labels tell two runs apart
                                                     in one textfile collector
``bulkupdate_records_total{outcome}``       counter  final results of the run, by outcome
``bulkupdate_records_uncertain``            gauge    results with an attempt of unknown fate
``bulkupdate_records_pending``              gauge    in the pipeline, not yet final
``bulkupdate_records_remaining``            gauge    input records without a result yet
``bulkupdate_requests_total{status}``       counter  requests of the run by HTTP status
                                                     (``none``: no answer came; ``unknown``:
                                                     sent by a session that recorded no
                                                     statuses, e.g. one killed)
``bulkupdate_transient_answers_total``      counter  answers of the run that decided
                                                     nothing (429, 5xx, timeouts ...): their
                                                     records were retried or given up
``bulkupdate_throttle_pace_ratio``          gauge    the adaptive pace as a share of --rate
``bulkupdate_request_duration_seconds``     hist.    this session's request latency, send
                                                     to answer
``bulkupdate_exit_code``                    gauge    once the run has ended
``bulkupdate_end_time_seconds``             gauge    once the run has ended (Unix time)
==========================================  =======  ===================================

During ``bulkupdate verify`` (:mod:`bulkupdate.verify.metrics`), the reads instead:
``bulkupdate_verify_records_total{verdict}`` (verdicts so far, this verify and
the ones before), ``bulkupdate_verify_records_remaining``,
``bulkupdate_verify_requests_total{status}`` (this verify's reads by HTTP
status) and ``bulkupdate_verify_exit_code`` once it has ended.

``--metrics-port`` serves them on 127.0.0.1 for the run's duration;
``--metrics-file`` writes them at the end (node_exporter's textfile collector).
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import write_to_textfile
from prometheus_client.registry import Collector

from ..base.logs import Logger
from ..errors import UsageError
from ..rundir.summary import session_figures
from ..version import __version__
from .progress import OUTCOMES, Watch

if TYPE_CHECKING:
    from ..settings import Settings

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def _earlier(sessions: list[dict[str, Any]]) -> tuple[Counter[str], int]:
    """Requests by status and transient answers of the sessions before this one."""
    statuses: Counter[str] = Counter()
    transient = 0
    for s in sessions:
        by_status = s.get("statuses")
        if isinstance(by_status, dict):
            statuses.update({str(k): int(v) for k, v in by_status.items()})
        elif s.get("requests"):
            statuses["unknown"] += int(s["requests"])
        transient += int(s.get("transient_answers", s.get("transient", 0)) or 0)
    return statuses, transient


class _Live(Collector):
    def __init__(self, watch: Watch) -> None:
        self._watch = watch
        manifest = watch.ledger.manifest
        self._info = {"run_id": str(manifest.get("run_id", "")), "version": __version__,
                      "input": str(manifest.get("input", ""))}
        # The manifest holds the earlier sessions only: this one is added after.
        self._statuses, self._transient = _earlier(
            session_figures(watch.ledger.dir, list(manifest.get("sessions") or ())))
        self._lock = threading.Lock()    # answers on the loop, scrapes in a thread
        self._buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self._latency_sum = 0.0

    def observe(self, status: str, seconds: float) -> None:
        with self._lock:
            self._buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
            self._latency_sum += seconds

    def collect(self) -> Iterator[Metric]:
        w = self._watch
        info = GaugeMetricFamily("bulkupdate_run_info", "The run these series belong to",
                                 labels=list(self._info))
        info.add_metric(list(self._info.values()), 1)
        yield info
        records = CounterMetricFamily("bulkupdate_records", "Final results by outcome",
                                      labels=["outcome"])
        counts = w.counts()
        for outcome in OUTCOMES:
            records.add_metric([outcome], counts[outcome])
        yield records
        yield GaugeMetricFamily("bulkupdate_records_uncertain",
                                "Results with an attempt of unknown fate", w.uncertain)
        yield GaugeMetricFamily("bulkupdate_records_pending",
                                "Records in the pipeline, not yet final", w.pending)
        total = w.records_total
        if total is not None:
            yield GaugeMetricFamily("bulkupdate_records_remaining",
                                    "Input records without a result yet", max(0, total - w.done))
        requests = CounterMetricFamily("bulkupdate_requests", "Requests by HTTP status",
                                       labels=["status"])
        for status, count in sorted((self._statuses + w.statuses).items()):
            requests.add_metric([status], count)
        yield requests
        yield CounterMetricFamily("bulkupdate_transient_answers",
                                  "Answers that decided nothing: retried or given up",
                                  self._transient + w.snapshot().transient_answers)
        yield GaugeMetricFamily("bulkupdate_throttle_pace_ratio",
                                "Adaptive pace as a share of --rate", w.share)
        with self._lock:
            cumulative, buckets = 0, []
            for bound, count in zip((*LATENCY_BUCKETS, float("inf")), self._buckets,
                                    strict=True):
                cumulative += count
                buckets.append((_le(bound), cumulative))
            latency_sum = self._latency_sum
        yield HistogramMetricFamily("bulkupdate_request_duration_seconds",
                                    "Request latency, send to answer", buckets=buckets,
                                    sum_value=latency_sum)
        if w.exit_code is not None:
            yield GaugeMetricFamily("bulkupdate_exit_code", "Exit status of the run",
                                    w.exit_code)
            yield GaugeMetricFamily("bulkupdate_end_time_seconds", "When the run ended",
                                    time.time())


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


def run_metrics(watch: Watch, settings: Settings, log: Logger) -> Exposition:
    """A run's series, from its live :class:`Watch`, served at once when
    ``--metrics-port`` asks for it."""
    live = _Live(watch)
    watch.on_answer(live.observe)
    return Exposition.start(live, settings, log)


class Exposition:
    """One session's series (a run's, a verify's) in a registry of its own: served
    on loopback while the session goes, written to a file at its end. It holds
    the collector that makes the series rather than being one, so a run and a
    verify share this and nothing else."""

    def __init__(self, collector: Collector) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(collector)
        self._server: Any = None

    @classmethod
    def start(cls, collector: Collector, settings: Settings, log: Logger) -> Exposition:
        """The session's exposition, served at once when ``--metrics-port`` asks for it."""
        metrics = cls(collector)
        if settings.metrics_port is not None:
            port = metrics.serve(settings.metrics_port)
            log.info("metrics.serving", url=f"http://127.0.0.1:{port}/metrics")
        return metrics

    def serve(self, port: int) -> int:
        """Serve on loopback; returns the port (useful with 0: any free one)."""
        try:
            self._server, _ = start_http_server(port, addr="127.0.0.1", registry=self.registry)
        except OSError as exc:
            raise UsageError(f"--metrics-port {port}: cannot listen on 127.0.0.1 "
                             f"({exc.strerror or exc})") from None
        return int(self._server.server_port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def write(self, path: str | Path, log: Logger) -> None:
        """At the end of a session; a failure is logged, never changes the exit code
        (the records were sent, and the ledger says so)."""
        try:
            write_to_textfile(str(path), self.registry)
        except OSError as exc:
            log.error("metrics.write_failed", path=str(path), error=exc.strerror or str(exc))
