"""The daemon's Prometheus metrics, every one defined here (names and labels from common.metrics).

A collector reads the engine's counters and the recorder's cumulative buckets at scrape time, so the
request path does no Prometheus bookkeeping of its own and the label sets stay bounded (route x outcome).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import accumulate
from typing import Protocol

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from common import metrics as names
from common.buckets import LATENCY_SECONDS
from common.metrics import le_text
from loadgen.counts import ScheduleCounts
from loadgen.recorder import Recorder


class Source(ScheduleCounts, Protocol):
    """What the metrics read: an Engine, or the worker processes' merged totals (workers.Totals)."""

    @property
    def recorder(self) -> Recorder: ...
    @property
    def in_flight(self) -> int: ...
    def target_rate(self) -> float: ...


class LoadgenCollector(Collector):
    def __init__(self, engine: Source) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        engine, recorder = self.engine, self.engine.recorder
        duration = HistogramMetricFamily(
            names.LOADGEN_REQUEST_DURATION.name,
            "Client-side latency of the requests that did not fail (answers below 500), from the scheduled start "
            "to the end of the response; failures are counted by kind in loadgen_requests_total.",
            labels=names.LOADGEN_REQUEST_DURATION.labels,
        )
        bounds = [*(le_text(b) for b in LATENCY_SECONDS), "+Inf"]
        for route, b in sorted(recorder.buckets.items()):
            cumulative = list(accumulate(b.counts))
            duration.add_metric([route], list(zip(bounds, cumulative, strict=True)), b.sum)
        yield duration

        # (A counter family is named without `_total`: the client appends it to the sample.)
        requests = CounterMetricFamily(
            names.LOADGEN_REQUESTS.name, "Finished requests by outcome: HTTP status code or transport error kind.",
            labels=names.LOADGEN_REQUESTS.labels,
        )  # fmt: skip
        for (route, outcome), n in sorted(recorder.outcomes.items()):
            requests.add_metric([route, outcome], n)
        yield requests

        yield CounterMetricFamily(
            names.LOADGEN_SCHEDULED.name, "Requests that came due on the schedule.", value=engine.scheduled
        )
        yield CounterMetricFamily(
            names.LOADGEN_SENT.name, "Requests sent (scheduled minus dropped).", value=engine.sent
        )
        yield CounterMetricFamily(
            names.LOADGEN_DROPPED.name,
            "Requests due while the in-flight bound was reached, so not sent.",
            value=engine.dropped,
        )
        yield GaugeMetricFamily(
            names.LOADGEN_IN_FLIGHT.name, "Requests sent and not yet finished.", value=engine.in_flight
        )
        yield GaugeMetricFamily(
            names.LOADGEN_TARGET_RATE.name, "The schedule's current target rate.", value=engine.target_rate()
        )


def registry(engine: Source) -> CollectorRegistry:
    """A registry with the load generator's metrics only (plus the process metrics of this process)."""
    reg = CollectorRegistry(auto_describe=True)
    reg.register(LoadgenCollector(engine))
    ProcessCollector(registry=reg)
    return reg
