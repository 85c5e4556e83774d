"""What happened to each request: HDR histograms, outcome counters, Prometheus buckets, a time series.

Memory is flat whatever the run's length: histograms have a fixed size, counters are keyed by a
bounded set of (route, outcome), and the time series keeps at most `series_limit` points. The hot path
records into a per-second histogram only; `tick()` folds it into the totals once a second.

Latency histograms (the HDR ones and the Prometheus buckets) hold the requests that did not fail (an
answer below 500 that passed its check): a connection refused in a microsecond is not a fast answer, and a
run against a closed port must not pass a latency threshold. The failed requests' latency has its own
histogram beside them, and they are counted by kind (`outcomes`).

Worker processes each keep a Recorder and hand the parent one `Second` a second (`take()`): the
histograms' non-zero counts and the counters' increments, which the parent's Recorder adds up
(`absorb()`) exactly, then closes the second as if it had recorded every request itself.
"""

from __future__ import annotations

import bisect
import ctypes
import sys
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from hdrh.histogram import HdrHistogram

from common.buckets import LATENCY_SECONDS
from loadgen.checks import CHECK  # an answer that failed its check
from loadgen.http.errors import ERROR_KINDS  # transport error kinds: outcomes of requests with no HTTP status

#: Outcomes without a status code that are errors: every transport error kind, and a failed check.
_ERRORS = frozenset((*ERROR_KINDS, CHECK))

#: Histograms count microseconds from 1 µs to 1 hour, 3 significant digits.
_LOWEST_US, _HIGHEST_US, _DIGITS = 1, 3_600_000_000, 3


def hdr() -> HdrHistogram:
    return HdrHistogram(_LOWEST_US, _HIGHEST_US, _DIGITS)


def percentiles(h: HdrHistogram, ps: Sequence[float]) -> list[int]:
    """Values at percentiles `ps`, as hdrh's get_value_at_percentile gives them, in microseconds of work.

    hdrh walks its 23,552 counts in Python for each percentile (about a millisecond each); on the
    generator's event loop that stalls the schedule once a second. numpy's cumulative sum does it at once.
    """
    if not h.total_count:
        return [0] * len(ps)
    cumulative = np.cumsum(np.frombuffer(h.counts, dtype=h.counts._type_))
    targets = np.array([max(int(min(p, 100.0) * h.total_count / 100 + 0.5), 1) for p in ps], dtype=cumulative.dtype)
    values = []
    for p, index in zip(ps, np.searchsorted(cumulative, targets).tolist(), strict=True):
        value = h.get_value_from_index(min(index, h.counts_len - 1))
        values.append(h.get_highest_equivalent_value(value) if p else h.get_lowest_equivalent_value(value))
    return values


class FastHdr:
    """Records into an HdrHistogram several times faster than its own record_value (the hot path).

    Same counts index as hdrh's record_value (its clz arithmetic is int.bit_length()), computed inline;
    count, min and max are kept here and written back by `sync()` before the histogram is read.
    """

    __slots__ = ("_counts", "_half", "_half_mag", "_mask", "_shift", "_unit", "count", "hist", "max", "min")

    def __init__(self) -> None:
        self.hist = h = hdr()
        self._counts, self._mask, self._unit = h.counts, h.sub_bucket_mask, h.unit_magnitude
        self._half_mag, self._half = h.sub_bucket_half_count_magnitude, h.sub_bucket_half_count
        self._shift = self._unit + self._half_mag + 1
        self.count, self.min, self.max = 0, _HIGHEST_US, 0

    def record(self, value: int) -> None:
        """value: an integer in [1, 1 hour in µs]; outside values are clamped."""
        if value > _HIGHEST_US:
            value = _HIGHEST_US
        elif value < 1:
            value = 1
        b = (value | self._mask).bit_length() - self._shift
        self._counts[((b + 1) << self._half_mag) + (value >> (b + self._unit)) - self._half] += 1
        self.count += 1
        if value > self.max:
            self.max = value
        if value < self.min:
            self.min = value

    def sync(self) -> HdrHistogram:
        h = self.hist
        h.total_count = self.count
        if self.count:
            h.min_value, h.max_value = self.min, self.max
        return h

    def reset(self) -> None:
        """hdrh's reset() zeroes its counts one by one in Python; memset does it at once."""
        h = self.hist
        ctypes.memset(h.counts, 0, ctypes.sizeof(h.counts))
        h.total_count, h.min_value, h.max_value = 0, sys.maxsize, 0
        self.count, self.min, self.max = 0, _HIGHEST_US, 0


@dataclass
class Sparse:
    """A histogram's non-zero counts (bucket index -> count) with its count, min and max: what a worker sends."""

    index: np.ndarray
    counts: np.ndarray
    count: int
    min: int
    max: int


def sparse(fast: FastHdr) -> Sparse:
    h = fast.sync()
    counts = np.frombuffer(h.counts, dtype=h.counts._type_)
    index = np.flatnonzero(counts)
    return Sparse(index, counts[index].copy(), fast.count, fast.min, fast.max)


def absorb_sparse(fast: FastHdr, part: Sparse) -> None:
    """Add a Sparse into a FastHdr (bucket by bucket: the sum is exact)."""
    if not part.count:
        return
    counts = np.frombuffer(fast._counts, dtype=fast._counts._type_)
    counts[part.index] += part.counts
    fast.count += part.count
    fast.min = min(fast.min, part.min)
    fast.max = max(fast.max, part.max)


@dataclass
class Second:
    """One worker's increments since its last `take()`."""

    latency: Sparse
    failed: Sparse
    lag: Sparse
    outcomes: dict[tuple[str, str], int]
    buckets: dict[str, tuple[list[int], float]]


def is_error(outcome: str) -> bool:
    """An error is a transport error, a failed check (an answer that is not what the workload expects, as
    the synthetic SLOs count it) or a 5xx. A 4xx is the target rejecting what we sent (on purpose, for the
    invalid share), so it is not counted against the target."""
    return outcome in _ERRORS or outcome.startswith("5")


@dataclass
class Point:
    """One second of the run (one row of the CSV, one point of the HTML plots).

    Counts are of this second (`outcomes`: finished requests by status code or error kind). A latency is None
    when no request succeeded in the second and the lag None when none was sent: no sample, no point (a zero
    would draw an outage as perfect latency).
    """

    t: float
    target_rps: float
    scheduled: int
    sent: int
    dropped: int
    completed: int
    errors: int
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    lag_p99_ms: float | None
    outcomes: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0  # requests out at the end of the second


@dataclass
class RouteBuckets:
    """Cumulative Prometheus histogram state for one route (LATENCY_SECONDS boundaries + the +Inf slot)."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_SECONDS) + 1))
    sum: float = 0.0


class Recorder:
    def __init__(self, series_limit: int | None = None) -> None:
        self.latency = hdr()  # requests that did not fail (is_error false), µs from the scheduled start
        self.failed_latency = hdr()  # the failed ones (transport errors and 5xx), beside them
        self.lag = hdr()  # schedule lag, µs from the scheduled start to the send
        self._latency_now = FastHdr()
        self._failed_now = FastHdr()
        self._lag_now = FastHdr()
        self.outcomes: dict[tuple[str, str], int] = {}
        self.buckets: dict[str, RouteBuckets] = {}
        self.completed = 0
        self.errors = 0
        self.series: deque[Point] = deque(maxlen=series_limit)
        self._last: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)
        self._last_outcomes: dict[str, int] = {}
        self._taken: tuple[dict[tuple[str, str], int], dict[str, tuple[list[int], float]]] = ({}, {})

    def record(self, route: str, outcome: str, seconds: float) -> None:
        """One finished request (the hot path: keep it lean)."""
        key = (route, outcome)
        self.outcomes[key] = self.outcomes.get(key, 0) + 1
        self.completed += 1
        if outcome in _ERRORS or outcome[0] == "5":
            self.errors += 1
            self._failed_now.record(int(seconds * 1e6))
            return
        self._latency_now.record(int(seconds * 1e6))
        b = self.buckets.get(route)
        if b is None:
            b = self.buckets[route] = RouteBuckets()
        b.counts[bisect.bisect_left(LATENCY_SECONDS, seconds)] += 1
        b.sum += seconds

    def record_lag(self, seconds: float) -> None:
        self._lag_now.record(int(seconds * 1e6))

    def tick(self, t: float, target_rps: float, scheduled: int, sent: int, dropped: int, in_flight: int = 0) -> Point:
        """Close the current second: fold its histograms into the totals and append a point."""
        now, lag = self._latency_now.sync(), self._lag_now.sync()
        totals: dict[str, int] = {}
        for (_, outcome), n in self.outcomes.items():
            totals[outcome] = totals.get(outcome, 0) + n
        last = self._last_outcomes
        outcomes = {k: v - last.get(k, 0) for k, v in totals.items() if v - last.get(k, 0)}
        latency: list[float | None] = [None] * 4
        if now.total_count and any(not is_error(o) for o in outcomes):
            latency = [v / 1000 for v in (*percentiles(now, [50, 90, 99]), now.get_max_value())]
        p50, p90, p99, top = latency
        s0, se0, d0, c0, e0 = self._last
        point = Point(
            t=round(t, 3),
            target_rps=round(target_rps, 3),
            scheduled=scheduled - s0,
            sent=sent - se0,
            dropped=dropped - d0,
            completed=self.completed - c0,
            errors=self.errors - e0,
            p50_ms=p50,
            p90_ms=p90,
            p99_ms=p99,
            max_ms=top,
            lag_p99_ms=percentiles(lag, [99])[0] / 1000 if lag.total_count else None,
            outcomes=outcomes,
            in_flight=in_flight,
        )
        self._last = (scheduled, sent, dropped, self.completed, self.errors)
        self._last_outcomes = totals
        if now.total_count:  # (adding an empty histogram would zero the minimum)
            self.latency.add(now)
        if lag.total_count:
            self.lag.add(lag)
        failed = self._failed_now.sync()
        if failed.total_count:
            self.failed_latency.add(failed)
        self._latency_now.reset()
        self._failed_now.reset()
        self._lag_now.reset()
        self.series.append(point)
        return point

    def take(self) -> Second:
        """A worker's side: what was recorded since the last take(), and start afresh (no totals kept)."""
        last_outcomes, last_buckets = self._taken
        outcomes = {k: n - last_outcomes.get(k, 0) for k, n in self.outcomes.items() if n != last_outcomes.get(k, 0)}
        buckets: dict[str, tuple[list[int], float]] = {}
        for route, b in self.buckets.items():
            before = last_buckets.get(route, ([0] * len(b.counts), 0.0))
            if b.counts != before[0]:
                buckets[route] = ([n - m for n, m in zip(b.counts, before[0], strict=True)], b.sum - before[1])
        self._taken = (dict(self.outcomes), {r: (list(b.counts), b.sum) for r, b in self.buckets.items()})
        second = Second(sparse(self._latency_now), sparse(self._failed_now), sparse(self._lag_now), outcomes, buckets)
        self._latency_now.reset()
        self._failed_now.reset()
        self._lag_now.reset()
        return second

    def absorb(self, second: Second) -> None:
        """The parent's side: add a worker's Second, as if its requests had been recorded here."""
        absorb_sparse(self._latency_now, second.latency)
        absorb_sparse(self._failed_now, second.failed)
        absorb_sparse(self._lag_now, second.lag)
        for key, n in second.outcomes.items():
            self.outcomes[key] = self.outcomes.get(key, 0) + n
            self.completed += n
            if is_error(key[1]):
                self.errors += n
        for route, (counts, total) in second.buckets.items():
            b = self.buckets.get(route)
            if b is None:
                b = self.buckets[route] = RouteBuckets()
            b.counts = [n + m for n, m in zip(b.counts, counts, strict=True)]
            b.sum += total

    def outcome_totals(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for (_, outcome), n in sorted(self.outcomes.items()):
            totals[outcome] = totals.get(outcome, 0) + n
        return totals
