"""The Prometheus series of a ``bulkupdate verify`` (``--metrics-port``/
``--metrics-file``), made at scrape time from its
:class:`~bulkupdate.verify.watch.VerifyWatch` and served and written like a
run's (:class:`~bulkupdate.night.metrics.Exposition`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..night.metrics import Exposition

if TYPE_CHECKING:
    from ..base.logs import Logger
    from ..settings import Settings


class Figures(Protocol):
    """What the series are made of: :class:`~bulkupdate.verify.watch.VerifyWatch`'s
    figures (named here, not imported: the watch imports this module)."""

    total: int
    statuses: Counter[str]
    exit_code: int | None

    def counts(self) -> dict[str, int]: ...


def verify_metrics(watch: Figures, settings: Settings, log: Logger) -> Exposition:
    """A verify's series, served at once when ``--metrics-port`` asks for it."""
    return Exposition.start(_VerifyLive(watch), settings, log)


class _VerifyLive(Collector):
    def __init__(self, watch: Figures) -> None:
        self._watch = watch

    def collect(self) -> Iterator[Metric]:
        w = self._watch
        records = CounterMetricFamily("bulkupdate_verify_records",
                                      "Records read back, by verdict", labels=["verdict"])
        counts = w.counts()
        for verdict, count in counts.items():
            records.add_metric([verdict], count)
        yield records
        yield GaugeMetricFamily("bulkupdate_verify_records_remaining",
                                "Records chosen without a verdict yet",
                                max(0, w.total - sum(counts.values())))
        requests = CounterMetricFamily("bulkupdate_verify_requests",
                                       "Reads by HTTP status", labels=["status"])
        for status, count in sorted(w.statuses.items()):
            requests.add_metric([status], count)
        yield requests
        if w.exit_code is not None:
            yield GaugeMetricFamily("bulkupdate_verify_exit_code", "Exit status of the verify",
                                    w.exit_code)
