"""What happened to each request: HDR histograms, outcome counters, Prometheus buckets, a time series.

Memory is flat whatever the run's length: histograms have a fixed size, counters are keyed by a
bounded set of (route, outcome), and the time series keeps at most `series_limit` points. The hot path
records into a per-second histogram only; `tick()` folds it into the totals once a second.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass, field

from hdrh.histogram import HdrHistogram

from service.observability.buckets import LATENCY_SECONDS

#: Transport error kinds (the `outcome` of a request that got no HTTP status).
ERROR_KINDS = ("timeout", "connect", "other")

#: Histograms count microseconds from 1 µs to 1 hour, 3 significant digits.
_LOWEST_US, _HIGHEST_US, _DIGITS = 1, 3_600_000_000, 3


def hdr() -> HdrHistogram:
    return HdrHistogram(_LOWEST_US, _HIGHEST_US, _DIGITS)


def is_error(outcome: str) -> bool:
    """An error is a transport error or a 5xx. A 4xx is the target rejecting what we sent (on purpose,
    for the invalid share), so it is not counted against the target."""
    return outcome in ERROR_KINDS or outcome.startswith("5")


@dataclass
class Point:
    """One second of the run (one row of the CSV, one point of the HTML plots)."""

    t: float
    target_rps: float
    scheduled: int
    sent: int
    dropped: int
    completed: int
    errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    lag_p99_ms: float
    outcomes: dict[str, int] = field(default_factory=dict)


@dataclass
class RouteBuckets:
    """Cumulative Prometheus histogram state for one route (LATENCY_SECONDS boundaries + the +Inf slot)."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_SECONDS) + 1))
    sum: float = 0.0


class Recorder:
    def __init__(self, series_limit: int | None = None) -> None:
        self.latency = hdr()  # all completed requests, µs from the scheduled start
        self.lag = hdr()  # schedule lag, µs from the scheduled start to the send
        self._latency_now = hdr()
        self._lag_now = hdr()
        self.outcomes: dict[tuple[str, str], int] = {}
        self.buckets: dict[str, RouteBuckets] = {}
        self.completed = 0
        self.errors = 0
        self.series: deque[Point] = deque(maxlen=series_limit)
        self._last: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)
        self._last_outcomes: dict[str, int] = {}

    def record(self, route: str, outcome: str, seconds: float) -> None:
        """One finished request (the hot path: keep it lean)."""
        key = (route, outcome)
        self.outcomes[key] = self.outcomes.get(key, 0) + 1
        self.completed += 1
        if outcome in ERROR_KINDS or outcome[0] == "5":
            self.errors += 1
        self._latency_now.record_value(int(seconds * 1e6) or 1)
        b = self.buckets.get(route)
        if b is None:
            b = self.buckets[route] = RouteBuckets()
        b.counts[bisect.bisect_left(LATENCY_SECONDS, seconds)] += 1
        b.sum += seconds

    def record_lag(self, seconds: float) -> None:
        self._lag_now.record_value(int(seconds * 1e6) or 1)

    def tick(self, t: float, target_rps: float, scheduled: int, sent: int, dropped: int) -> Point:
        """Close the current second: fold its histograms into the totals and append a point."""
        now, lag = self._latency_now, self._lag_now
        totals = {}
        for (_, outcome), n in self.outcomes.items():
            totals[outcome] = totals.get(outcome, 0) + n
        s0, se0, d0, c0, e0 = self._last
        point = Point(
            t=round(t, 3),
            target_rps=round(target_rps, 3),
            scheduled=scheduled - s0,
            sent=sent - se0,
            dropped=dropped - d0,
            completed=self.completed - c0,
            errors=self.errors - e0,
            p50_ms=now.get_value_at_percentile(50) / 1000,
            p90_ms=now.get_value_at_percentile(90) / 1000,
            p99_ms=now.get_value_at_percentile(99) / 1000,
            max_ms=now.get_max_value() / 1000,
            lag_p99_ms=lag.get_value_at_percentile(99) / 1000,
            outcomes={
                k: v - self._last_outcomes.get(k, 0) for k, v in totals.items() if v - self._last_outcomes.get(k, 0)
            },
        )
        self._last = (scheduled, sent, dropped, self.completed, self.errors)
        self._last_outcomes = totals
        if now.total_count:  # (adding an empty histogram would zero the minimum)
            self.latency.add(now)
        if lag.total_count:
            self.lag.add(lag)
        now.reset()
        lag.reset()
        self.series.append(point)
        return point

    def outcome_totals(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for (_, outcome), n in sorted(self.outcomes.items()):
            totals[outcome] = totals.get(outcome, 0) + n
        return totals
