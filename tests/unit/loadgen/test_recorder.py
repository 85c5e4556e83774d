"""The recorder, and the hdrh internals it leans on for speed (pinned: these fail if hdrh changes)."""

from __future__ import annotations

import ctypes
import random
import sys

import numpy as np
import pytest

from contract.buckets import LATENCY_SECONDS
from loadgen.recorder import ERROR_KINDS, FastHdr, Recorder, hdr, is_error, percentiles


def test_fast_recording_matches_hdrhistogram() -> None:
    """FastHdr's inline index arithmetic must put every value in the bucket hdrh's record_value does."""
    rng = random.Random(4)
    values = [int(rng.lognormvariate(8, 2)) + 1 for _ in range(5000)] + [1, 5, 2047, 2048, 3_600_000_000]
    fast, reference = FastHdr(), hdr()
    for v in values:
        fast.record(v)
        reference.record_value(v)
    mine = fast.sync()
    assert list(mine.counts) == list(reference.counts)
    assert mine.get_total_count() == reference.get_total_count() == len(values)
    assert (mine.get_min_value(), mine.get_max_value()) == (reference.get_min_value(), reference.get_max_value())
    assert mine.get_mean_value() == reference.get_mean_value()


def test_numpy_percentiles_equal_hdrhs_own() -> None:
    rng = random.Random(5)
    h = hdr()
    for _ in range(5000):
        h.record_value(int(rng.expovariate(1 / 20000)) + 1)
    ps = [0, 0.1, 1, 25, 50, 90, 99, 99.9, 99.99, 100, 120]
    assert percentiles(h, ps) == [h.get_value_at_percentile(p) for p in ps]
    assert percentiles(hdr(), [50, 99]) == [0, 0]


def test_hdrh_internals_fastpath_relies_on() -> None:
    """The names FastHdr and percentiles() read or write, with the types and shapes they assume."""
    h = hdr()
    assert np.frombuffer(h.counts, dtype=h.counts._type_).shape == (h.counts_len,)
    assert isinstance(h.counts, ctypes.Array) and len(h.counts) == h.counts_len
    for name in ("sub_bucket_mask", "unit_magnitude", "sub_bucket_half_count_magnitude", "sub_bucket_half_count"):
        assert isinstance(getattr(h, name), int), name
    # An empty histogram's state, as FastHdr.reset() writes it back.
    assert (h.total_count, h.min_value, h.max_value) == (0, sys.maxsize, 0)
    h.record_value(1000)
    assert (h.total_count, h.min_value, h.max_value) == (1, 1000, 1000)


def test_reset_leaves_what_a_new_histogram_has() -> None:
    fast = FastHdr()
    for v in (0, 7, 10**12):  # out of range values are clamped, not refused
        fast.record(v)
    assert percentiles(fast.sync(), [0, 100]) == [1, fast.hist.get_highest_equivalent_value(3_600_000_000)]
    fast.reset()
    fresh = hdr()
    h = fast.sync()
    assert list(h.counts) == list(fresh.counts)
    assert (h.total_count, h.min_value, h.max_value) == (fresh.total_count, fresh.min_value, fresh.max_value)
    fast.record(7)
    assert percentiles(fast.sync(), [0, 100]) == [7, 7] and fast.sync().get_total_count() == 1


def test_errors_are_transport_errors_and_5xx() -> None:
    outcomes = ("200", "422", "404", "500", "503", *ERROR_KINDS)
    assert [is_error(o) for o in outcomes] == [False] * 3 + [True] * (2 + len(ERROR_KINDS))


def test_record_and_tick_fold_one_second() -> None:
    r = Recorder(series_limit=2)
    r.record("/a", "200", 0.004)
    r.record("/a", "422", 0.006)
    r.record("/a", "503", 0.02)
    r.record("/b", "timeout", 20.0)
    r.record_lag(0.001)
    point = r.tick(1.0, 3.0, scheduled=5, sent=4, dropped=1)
    assert (point.scheduled, point.sent, point.dropped, point.completed, point.errors) == (5, 4, 1, 4, 2)
    assert point.outcomes == {"200": 1, "422": 1, "503": 1, "timeout": 1}
    # Latency reads the answers that did not fail (a 4xx is an answer); the failed ones are beside them.
    assert point.p50_ms == pytest.approx(4, rel=1e-3) and point.max_ms == pytest.approx(6, rel=1e-3)
    assert percentiles(r.failed_latency, [0, 100]) == [pytest.approx(20_000, rel=1e-3), pytest.approx(2e7, rel=1e-3)]
    assert point.lag_p99_ms == pytest.approx(1, rel=1e-3)
    # Prometheus buckets per route, answered requests only: `le` bounds are inclusive; the last slot is +Inf.
    a = r.buckets["/a"]
    assert a.sum == pytest.approx(0.010) and sum(a.counts) == 2
    assert a.counts[LATENCY_SECONDS.index(0.005)] == 1 and a.counts[LATENCY_SECONDS.index(0.0075)] == 1
    assert "/b" not in r.buckets  # nothing answered there: a timeout is not a 20 s answer

    quiet = r.tick(2.0, 3.0, scheduled=5, sent=4, dropped=1)  # a second with nothing in it
    assert (quiet.scheduled, quiet.completed, quiet.outcomes, quiet.p99_ms, quiet.lag_p99_ms) == (0, 0, {}, None, None)
    assert r.latency.get_min_value() == pytest.approx(4000, rel=1e-3)  # an empty second does not zero the min
    r.record("/a", "200", 0.001)
    r.tick(3.0, 3.0, scheduled=6, sent=5, dropped=1)
    assert [p.t for p in r.series] == [2.0, 3.0]  # at most series_limit points
    assert r.outcome_totals() == {"200": 2, "422": 1, "503": 1, "timeout": 1} and r.completed == 5 and r.errors == 2
    assert r.latency.get_total_count() == 3 and r.failed_latency.get_total_count() == 2


def test_workers_seconds_add_up_to_one_recorder_exactly() -> None:
    """What two workers take() and a parent absorb()s is, bucket for bucket, what one recorder records."""
    rng = random.Random(9)
    outcomes = ("200", "200", "200", "422", "503", "connect", "timeout")
    requests = [(rng.choice(("/a", "/b")), rng.choice(outcomes), rng.lognormvariate(-4, 1.5)) for _ in range(3000)]
    one, parent, workers = Recorder(), Recorder(), [Recorder(), Recorder()]
    for second in range(3):
        for i, (route, outcome, seconds) in enumerate(requests[second * 1000 : (second + 1) * 1000]):
            one.record(route, outcome, seconds)
            one.record_lag(seconds / 100)
            workers[i % 2].record(route, outcome, seconds)
            workers[i % 2].record_lag(seconds / 100)
        for w in workers:
            parent.absorb(w.take())
        args = (float(second + 1), 10.0, 1000 * (second + 1), 1000 * (second + 1), 0)
        assert parent.tick(*args) == one.tick(*args)
    for name in ("latency", "failed_latency", "lag"):
        mine, theirs = getattr(parent, name), getattr(one, name)
        assert list(mine.counts) == list(theirs.counts), name
        assert (mine.get_min_value(), mine.get_max_value()) == (theirs.get_min_value(), theirs.get_max_value())
    assert parent.outcomes == one.outcomes and (parent.completed, parent.errors) == (one.completed, one.errors)
    assert {r: b.counts for r, b in parent.buckets.items()} == {r: b.counts for r, b in one.buckets.items()}
    assert all(parent.buckets[r].sum == pytest.approx(one.buckets[r].sum) for r in one.buckets)
    empty = Recorder().take()  # nothing recorded: nothing to add
    parent.absorb(empty)
    assert parent.latency.get_total_count() == one.latency.get_total_count()
