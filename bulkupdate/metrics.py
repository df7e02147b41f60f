"""Prometheus metrics of one run, with the ``prometheus-client`` package.

Each run has its own :class:`CollectorRegistry` (never the global one: several
runs may share a process). Request counts and latencies are observed as answers
come in; the rest is read from the live :class:`~bulkupdate.progress.Watch` at
scrape time, so a scrape always agrees with the ledger:

==========================================  =======  ===================================
``bulkupdate_records_total{outcome}``       counter  final results of the run, by outcome
``bulkupdate_records_uncertain``            gauge    results with an attempt of unknown fate
``bulkupdate_records_pending``              gauge    in the pipeline, not yet final
``bulkupdate_records_remaining``            gauge    input records without a result yet
``bulkupdate_requests_total{status}``       counter  requests of this session by HTTP status
                                                     (``none``: no answer came)
``bulkupdate_retries_total``                counter  answers of this session that were not
                                                     definite (429, 5xx, timeouts ...)
``bulkupdate_throttle_share``               gauge    the adaptive pace as a share of --rate
``bulkupdate_request_duration_seconds``     hist.    request latency, send to answer
``bulkupdate_exit_code``                    gauge    once the run has ended
``bulkupdate_end_time_seconds``             gauge    once the run has ended (Unix time)
==========================================  =======  ===================================

``--metrics-port`` serves them on 127.0.0.1 for the run's duration;
``--metrics-file`` writes them at the end (node_exporter's textfile collector).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import write_to_textfile
from prometheus_client.registry import Collector

from .errors import UsageError
from .logs import Logger
from .progress import OUTCOMES, Watch

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class _Live(Collector):
    def __init__(self, watch: Watch) -> None:
        self._watch = watch

    def collect(self) -> Iterator[Metric]:
        w = self._watch
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
        stats = w.pipeline.stats if w.pipeline is not None else None
        yield CounterMetricFamily("bulkupdate_retries", "Answers that were not definite",
                                  stats.transient if stats else 0)
        yield GaugeMetricFamily("bulkupdate_throttle_share",
                                "Adaptive pace as a share of --rate", w.share)
        if w.exit_code is not None:
            yield GaugeMetricFamily("bulkupdate_exit_code", "Exit status of the run",
                                    w.exit_code)
            yield GaugeMetricFamily("bulkupdate_end_time_seconds", "When the run ended",
                                    time.time())


class RunMetrics:
    def __init__(self, watch: Watch) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter("bulkupdate_requests", "Requests by HTTP status",
                                 ["status"], registry=self.registry)
        self._latency = Histogram("bulkupdate_request_duration_seconds",
                                  "Request latency, send to answer",
                                  buckets=LATENCY_BUCKETS, registry=self.registry)
        self.registry.register(_Live(watch))
        watch.on_answer(self.observe)
        self._server: Any = None

    def observe(self, status: str, seconds: float) -> None:
        self._requests.labels(status=status).inc()
        self._latency.observe(seconds)

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
