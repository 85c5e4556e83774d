"""bench/overload.py's pure parts: the service's counters, capacity, recovery, the figures, the goals, the table."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Counter, generate_latest

from bench import overload
from bench.overload import Counters, Step
from contract.routes import PREDICT, PREDICT_BATCH
from loadgen.__main__ import build_scenario, parser
from loadgen.recorder import Point
from loadgen.schedule import profile_length
from service.observability import metrics as service_metrics


def results(outcomes: dict[str, int], p99: float = 20.0, failed_p99: float = 2.0, seconds: int = 10,
            drained: int = 0, **more: Any) -> dict[str, Any]:  # fmt: skip
    """A loadgen results.json with what the bench reads: the outcomes spread evenly over the seconds of the
    schedule, but `drained` of the 200s, which came after it."""
    errors = sum(n for k, n in outcomes.items() if not k[0].isdigit() or k[0] == "5")
    completed = sum(outcomes.values())
    each = {k: (n - drained * (k == "200")) // seconds for k, n in outcomes.items()}
    points = [Point(float(t), 0, 0, 0, 0, 0, 0, p99, p99, p99, p99, 0.1, each) for t in range(1, seconds + 1)]
    points += [Point(seconds + 0.3, 0, 0, 0, 0, 0, 0, p99, p99, p99, p99, None, {"200": drained})] if drained else []
    return {"outcomes": outcomes, "duration_s": float(seconds), "rps": completed / seconds, "errors": errors,
            "dropped": 0, "dropped_rate": 0.0, "latency_ms": {"p99": p99}, "failed_latency_ms": {"p99": failed_p99},
            "series": [asdict(p) for p in points]} | more  # fmt: skip


def step(multiple: float, outcomes: dict[str, int], service: dict[str, int] | None = None, **more: Any) -> Step:
    """A step of 10 s at multiple x 1,000 req/s whose service counted `service` (default: what the client saw)."""
    served = dict(service if service is not None else {k: n for k, n in outcomes.items() if k[0].isdigit()})
    counted = Counters(served, shed=served.get("503", 0))
    return Step(multiple, 1000 * multiple, results(outcomes, **more), counted, dict(outcomes))


def test_counters_read_the_services_own_metrics() -> None:
    service_metrics.init_routes([PREDICT, PREDICT_BATCH])  # as the service's start does (instrument's lifespan)
    before = overload.parse_counters(generate_latest(REGISTRY).decode())
    duration = service_metrics.REQUEST_DURATION
    for status, n in (("200", 3), ("503", 2)):
        for _ in range(n):
            duration.labels(method="POST", route=PREDICT, status_code=status).observe(0.01)
    duration.labels(method="POST", route=PREDICT_BATCH, status_code="200").observe(0.01)  # another route: left out
    service_metrics.SHED.labels(PREDICT).inc(2)
    service_metrics.SHED.labels(PREDICT_BATCH).inc()
    during = overload.parse_counters(generate_latest(REGISTRY).decode()).since(before)
    abandoned = 0 if overload.ABANDONED else None  # (none until the contract names such a counter)
    assert during == Counters({"200": 3, "503": 2}, shed=2, abandoned=abandoned)


def test_an_abandoned_counter_is_read_when_the_contract_names_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(overload, "ABANDONED", ("http_server_abandoned_requests_total",))
    registry = CollectorRegistry()
    abandoned = Counter("http_server_abandoned_requests_total", "left", ["route"], registry=registry)
    abandoned.labels(PREDICT).inc(4)
    before = overload.parse_counters(generate_latest(registry).decode())
    abandoned.labels(PREDICT).inc(3)
    abandoned.labels(PREDICT_BATCH).inc(9)
    after = overload.parse_counters(generate_latest(registry).decode())
    assert (before.abandoned, after.since(before).abandoned) == (4, 3)
    assert Counters().since(Counters()).abandoned is None


def test_the_generators_flags_mean_what_the_bench_asks() -> None:
    """The stages after an overload, read by the loadgen's own parser: nothing for 3 s, then 100 req/s for 5 s."""
    scenario = build_scenario(parser().parse_args(["run", *overload.after_overload(3, 100, 5)]))
    assert [scenario.profile.rate(t) for t in (0, 2.9, 3.0, 7.9)] == [0, 0, 100, 100]
    assert profile_length(scenario.profile) == 8
    constant = build_scenario(parser().parse_args(["run", *overload.constant(1234.5, 3)]))
    assert (constant.profile.rate(0), constant.duration) == (1234.5, 3)


@pytest.mark.parametrize(
    ("change", "held"),
    [
        ({}, True),
        ({"rps": 98.0}, False),  # less than 99% of 100 req/s achieved
        ({"dropped_rate": 0.002}, False),
        ({"errors": 1}, False),
        ({"latency_ms": {"p99": 100.5}}, False),  # over the SLO's 100 ms
        ({"latency_ms": {"p99": 100.0}}, True),
    ],
)
def test_a_rate_is_held_achieved_without_drops_failures_or_slow_answers(change: dict[str, Any], held: bool) -> None:
    run = results({"200": 1000}) | change
    assert overload.holds(run, 100, p99_ms=100) is held


def test_the_capacity_is_bisected_below_the_ceiling() -> None:
    asked: list[float] = []

    def probe(rate: float) -> dict[str, Any]:  # a service that holds up to 1,700 req/s
        asked.append(rate)
        return results({"200": round(rate)}, seconds=1, p99=5 if rate <= 1700 else 900)

    assert overload.bisect_capacity(probe, 2000, steps=4, p99_ms=100) == 1688
    assert asked == [1500, 1750, 1625, 1688]
    assert overload.bisect_capacity(probe, 2000, steps=0, p99_ms=100) == 2000  # no steps: the ceiling


def point(t: float, p99: float | None, errors: int = 0, scheduled: int = 10) -> dict[str, Any]:
    """One second of a results.json's series."""
    return asdict(Point(t, 100, scheduled, scheduled, 0, scheduled, errors, p99, p99, p99, p99, 0.1))


def test_recovery_is_the_time_until_every_later_second_is_within_the_slo() -> None:
    quiet = [point(t, None, scheduled=0) for t in (1, 2, 3)]  # the overload's seconds: this run sent nothing
    slow = [point(4, 900), point(5, 300), point(6.0, 20), point(7, 150)]
    good = [point(t, 20) for t in (8, 9, 10)]
    series = [*quiet, *slow, *good, point(10.4, None, scheduled=0), point(12, 900)]  # drain, then past the end
    assert overload.recovery_seconds(series, overload_end=3, end=10, p99_ms=100) == 4.0  # good from t=7 on
    assert overload.recovery_seconds([*quiet, point(4, 20), point(5, 20)], 3, 5, 100) == 0.0
    failing = [*quiet, *slow, *good[:2], point(10, 20, errors=1)]  # fast, but a 503: not recovered
    assert overload.recovery_seconds(failing, overload_end=3, end=10, p99_ms=100) is None
    stalled = [*quiet, *slow, *good[:2], point(10, None)]  # due requests, none answered
    assert overload.recovery_seconds(stalled, overload_end=3, end=10, p99_ms=100) is None
    assert overload.recovery_seconds(quiet, overload_end=3, end=10, p99_ms=100) is None
    # The drain after the schedule (the requests of its last second finishing) is not a second of it.
    drained = [*quiet, *slow, *good[:2], point(10, 500), point(10.3, 20)]
    assert overload.recovery_seconds(drained, overload_end=3, end=10, p99_ms=100) is None


def test_a_steps_figures() -> None:
    shedding = step(3, {"200": 18_000, "503": 12_000}, failed_p99=3.0, p99=40.0)
    assert (shedding.admitted_p99_ms, shedding.shed_p99_ms, shedding.timeouts) == (40.0, 3.0, 0)
    assert (shedding.goodput, shedding.left, shedding.exact) == (1800.0, 0, True)
    # The generator keeps one histogram for every failure: with other failures its p99 is not the 503s'.
    mixed = step(3, {"200": 9_000, "503": 100, "timeout": 7, "connect": 50})
    assert (mixed.shed_p99_ms, mixed.timeouts, overload.shed_p99_text(mixed)) == (None, 7, "n/a, with the other "
                                                                                   "failures 2.0 ms")  # fmt: skip
    assert overload.shed_p99_text(step(1, {"200": 10})) == "no 503"
    assert step(1, {"503": 10}).admitted_p99_ms is None  # nothing admitted: no p99 to read
    # The service answered 200 to 70 clients that had left (their requests timed out).
    left = step(3, {"200": 9_000, "timeout": 70}, service={"200": 9_070})
    assert (left.left, left.exact) == (70, False)
    # Goodput counts the 200s that came while the schedule ran, not those of the drain after it.
    behind = step(3, {"200": 15_000, "timeout": 3_000}, drained=5_000)
    assert behind.goodput == 1_000


def test_the_goals_over_a_run_that_meets_them() -> None:
    steps = [step(1, {"200": 10_000}), step(2, {"200": 16_000, "503": 4_000}),
             step(3, {"200": 12_000, "503": 18_000}, failed_p99=4.0)]  # fmt: skip
    found = overload.goals(steps, capacity=1000, p99_ms=100, recovery=1.0, light=1.2)
    assert [g.met for g in found] == [True] * 8, overload.goal_lines(found)
    assert "3x: goodput / capacity 1.20" in overload.goal_lines(found)


def test_the_goals_name_what_a_service_that_queues_misses() -> None:
    queued = step(3, {"200": 5_000, "timeout": 300, "connect": 900}, service={"200": 5_300}, p99=9_000.0)
    found = overload.goals([step(2, {"200": 15_000}), queued], capacity=1000, p99_ms=100, recovery=None, light=2.0)
    missed = [g.figure for g in found if not g.met]
    assert missed == [
        "3x: client timeouts 300",
        "3x: admitted (200) p99 9,000.0 ms",
        "3x: 503 p99 no 503",
        "3x: goodput / capacity 0.50",
        "answers counted exactly: not at 3x",
        "recovery at 0.5x after 3x: not within the run",
        "light load: p99 on / off 2.00",
    ]


def test_the_light_load_verdict_is_the_median_of_the_rounds_ratios() -> None:
    calls: list[str] = []

    def run(name: str, p99: float) -> Callable[[], float]:
        def once() -> float:
            calls.append(name)
            return p99

        return once

    p99s = overload.interleaved({"on": run("on", 12.0), "off": run("off", 8.0)}, rounds=3)
    assert calls == ["on", "off", "off", "on", "on", "off"]  # the order reversed every other round
    assert overload.light_ratio(p99s) == 1.5
    assert overload.light_ratio({"on": [10, 30, 11], "off": [10, 10, 10]}) == 1.1


def test_the_table_lines_up_its_columns() -> None:
    steps = [step(1, {"200": 10_000}), step(3, {"200": 12_000, "503": 18_000}, failed_p99=4.0)]
    text = overload.table(["step", "1x", "3x"], overload.step_rows(steps, capacity=1000))
    lines = text.splitlines()
    assert len({len(line) for line in lines}) == 1
    assert lines[0].split() == ["step", "1x", "3x"]
    assert "200: 12,000, 503: 18,000" in text
    assert "no counter" in text


def test_multiples_are_read_sorted_and_positive() -> None:
    assert overload.multiples("3,1,2") == [1.0, 2.0, 3.0]
    for bad in ("0,1", "x", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            overload.multiples(bad)


def test_the_slo_threshold_is_the_specs_strictest_latency_one() -> None:
    assert overload.slo_p99_ms() == 100.0
