"""promtool tests of the rules at their edges, generated from the spec with expectations computed here.

- one incident whose holding conditions change (the quick page condition, then both, then only the slow one)
  is ONE alert series from start to resolution: every check expects the same labels;
- spiky traffic (busy hours with few errors, quiet hours with many): the period burn rate is the event-weighted
  one, within 1% (a time average of the 5m ratios would read it many times higher);
- a gap without requests: no period rule is NaN during or after it, and `slo:sli_no_data:bool` says so;
- a fast 5xx is a bad latency event (a latency SLI only); for a synthetic SLO, a fast transport error is;
- a synthetic SLO counts every failure kind the load generator reports, 5xx and dropped requests as bad, and
  its 4xx answers as good;
- the min-events guard holds the page at low traffic and lets it fire at normal traffic;
- the absent alert fires for a selector that matches nothing, not after a restart.

The expectations come from promtool_tests' Scenario (exact fractions); a scenario that does not show what
its test claims (the phases of the incident, a burn within 1%) is refused when generating.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from generators.prometheus.promtool_tests import (
    LOADGEN_DROPPED,
    LOADGEN_HISTOGRAM,
    LOADGEN_REQUESTS,
    PAGE_STEP,
    Scenario,
    Segment,
    alert_checks,
    close_to,
    fires,
    input_series,
    labels,
    loadgen_labels,
    prediction_routes,
    reads_loadgen,
    route_label,
    server_series,
)
from generators.prometheus.slo_rules import (
    ABSENT_ALERT,
    ABSENT_FOR,
    ABSENT_RANGE,
    ERROR_EVENTS,
    NO_DATA,
    TOTAL_EVENTS,
    absent_alert,
    enabled_severities,
    events_metric,
    sli_error_metric,
    slo_labels,
)
from slo.reads import Family, reads
from slo.spec import SLOSpec, Spec
from slo.windows import HOUR, MINUTE, PERIOD_SECONDS, POLICY, SLI_WINDOWS, prom_duration

Test = dict[str, Any]
#: Within this share of the event-weighted burn, the period burn rate is right.
WEIGHTED_WITHIN = Fraction(1, 100)
#: The load generator's transport error kinds (loadgen/http/errors.py, which the generators may not import: a
#: unit test checks this is the same set). Test data: the spec itself names none (its bad outcomes are every
#: outcome that is not a status under 500).
LOADGEN_ERROR_KINDS = ("connect", "timeout", "closed", "reset", "protocol", "other")
PERIOD_RULES = ("slo:sli_error:ratio_rate30d", "slo:period_burn_rate:ratio", "slo:period_error_budget_remaining:ratio")


def _flt(spec: Spec, slo: SLOSpec) -> str:
    return "{" + f'sloth_id="{spec.slo_id(slo)}"' + "}"


def _labels(spec: Spec, slo: SLOSpec, **extra: str) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted({**slo_labels(spec, slo), **extra}.items())) + "}"


def _test(name: str, scenario: Scenario, inputs: list[dict[str, str]], **checks: list[dict[str, Any]]) -> Test:
    return {"name": name, "interval": prom_duration(scenario.step), "input_series": inputs, **checks}


def incident_test(spec: Spec, slo: SLOSpec) -> Test | None:
    """50x the budget for 1h (the quick page condition, then both), 10x for 1h (only the slow one), recovery."""
    budget = Fraction(slo.error_budget)
    if 50 * budget >= 1 or "page" not in enabled_severities(slo):
        return None
    quick, slow = POLICY["page"]
    clean = slow.long // PAGE_STEP
    hour = HOUR // PAGE_STEP
    scenario = Scenario(
        [
            Segment(clean, Fraction(0)),
            Segment(hour, 50 * budget),
            Segment(hour, 10 * budget),
            Segment(hour, Fraction(0)),
        ],
        PAGE_STEP,
    )
    times = list(range(clean + 5, clean + 3 * hour, 5))
    phases = [tuple(c.long for c in fires(spec, slo, scenario, t, "page")) for t in times]
    shown = [p for i, p in enumerate(phases) if p and (i == 0 or p != phases[i - 1])]
    if shown != [(quick.long,), (quick.long, slow.long), (slow.long,)] or phases[0] or phases[-1]:
        raise AssertionError(f"{slo.name}: the incident does not move from the quick condition to the slow one")
    return _test(
        f"{slo.name}: one incident, the conditions holding change (1h window, both, 6h window): one page alert "
        "series, the same labels at every check, from silence to resolution",
        scenario,
        input_series(slo, scenario),
        alert_rule_test=alert_checks(spec, slo, scenario, times),
    )


def spiky_test(spec: Spec, slo: SLOSpec) -> Test:
    """Busy half hours (1000 rps, half the budget) and quiet hours (1 rps, 20x the budget), for a day."""
    budget = Fraction(slo.error_budget)
    busy = Segment(30, budget / 2, Fraction(1000))
    quiet = Segment(330, min(20 * budget, Fraction(1, 2)), Fraction(1))
    scenario = Scenario([busy, quiet] * 4, MINUTE)
    t = scenario.steps
    truth, period = scenario.truth(t), scenario.period_ratio(t)
    assert period is not None
    if abs(period - truth) > WEIGHTED_WITHIN * truth:
        raise AssertionError(f"{slo.name}: the request-weighted period SLI is {period / truth:.3f}x the truth")
    recorded = [r for m in range(1, t + 1) if (r := scenario.ratio(m, SLI_WINDOWS[0])) is not None]
    time_average = sum(recorded, Fraction(0)) / len(recorded)
    flt = _flt(spec, slo)
    tolerance = float(WEIGHTED_WITHIN * truth / budget)
    return _test(
        f"{slo.name}: spiky traffic for a day: the period burn rate is the event-weighted {float(truth / budget):.3g}x "
        f"within 1% (averaging the 5m ratios over time would say {float(time_average / budget):.3g}x)",
        scenario,
        input_series(slo, scenario),
        promql_expr_test=[
            {
                "expr": f"abs(slo:period_burn_rate:ratio{flt} - {float(truth / budget)!r}) <= bool {tolerance:g}",
                "eval_time": scenario.time(t),
                "exp_samples": [{"labels": _labels(spec, slo, sloth_window=prom_duration(PERIOD_SECONDS)), "value": 1}],
            }
        ],
    )


def gap_test(spec: Spec, slo: SLOSpec) -> Test:
    """An hour at 2x the budget, 12 minutes without a request (the series stay), an hour again."""
    budget = Fraction(slo.error_budget)
    hour = HOUR // MINUTE
    traffic = Segment(hour, min(2 * budget, Fraction(1, 2)))
    scenario = Scenario([traffic, Segment(12, Fraction(0), Fraction(0)), traffic], MINUTE)
    flt = _flt(spec, slo)
    short, period = prom_duration(SLI_WINDOWS[0]), prom_duration(PERIOD_SECONDS)
    checks = []
    for t, no_data in ((hour + 11, 1), (hour + 20, 0), (2 * hour + 12, 0)):
        ratio = scenario.period_ratio(t)
        assert ratio is not None
        values = (ratio, ratio / budget, 1 - ratio / budget)
        for rule, value in zip(PERIOD_RULES, values, strict=True):
            checks.append(
                {
                    "expr": close_to(f"{rule}{flt}", value),
                    "eval_time": scenario.time(t),
                    "exp_samples": [{"labels": _labels(spec, slo, sloth_window=period), "value": 1}],
                }
            )
        checks.append(
            {
                "expr": f"{NO_DATA}{flt}",
                "eval_time": scenario.time(t),
                "exp_samples": [{"labels": f"{NO_DATA}{_labels(spec, slo, sloth_window=short)}", "value": no_data}],
            }
        )
    return _test(
        f"{slo.name}: 12 minutes without a request: no period rule is NaN during or after it; no-data says so",
        scenario,
        input_series(slo, scenario),
        promql_expr_test=checks,
    )


def fast_failures_test(spec: Spec, slo: SLOSpec) -> Test | None:
    """Every answer within the threshold, 1 in 20 a fast failure: the latency SLI counts them as bad. On the
    service, 5xx answers in the histogram (shed 503s); on the load generator, refused connections (in no bucket).
    None for a latency histogram without a status label: its SLI cannot tell a fast failure (slo init says so)."""
    found = reads(slo)
    family = found.latency_family
    if found.le is None or family is None or not (found.client or family.status_label):
        return None
    le = float(found.le)
    scenario = Scenario([Segment(20, Fraction(1, 20))], MINUTE)
    good, bad, _ = prediction_routes(slo)
    g, b = scenario.values("good"), scenario.values("bad")
    if reads_loadgen(slo):
        what = "refused connections (outcome connect)"
        lg, bucket = loadgen_labels(slo), f'le="{found.le}"'
        good_route, bad_route = route_label(slo, good), route_label(slo, bad)
        inputs = [
            {"series": LOADGEN_REQUESTS + labels(lg, good_route, 'outcome="200"'), "values": g},
            {"series": f"{LOADGEN_HISTOGRAM}_count" + labels(lg, good_route), "values": g},
            {"series": f"{LOADGEN_HISTOGRAM}_bucket" + labels(lg, good_route, bucket), "values": g},
            {"series": LOADGEN_REQUESTS + labels(lg, bad_route, 'outcome="connect"'), "values": b},
            {"series": LOADGEN_DROPPED + labels(lg), "values": f"0+0x{scenario.steps}"},
        ]
    else:
        what = "503s"
        inputs = [*server_series(slo, good, "200", g, g), *server_series(slo, bad, "503", b, b)]
    t = scenario.steps
    ratio = scenario.ratio(t, SLI_WINDOWS[0])
    errors = scenario.rate(t, SLI_WINDOWS[0], errors=True)
    assert ratio is not None and errors is not None
    flt = _flt(spec, slo)
    window = {"sloth_window": prom_duration(SLI_WINDOWS[0])}
    return _test(
        f"{slo.name}: 5% of the requests are {what} within {le:g}s: each is a bad latency event "
        "(SLI 5m error ratio 0.05)",
        scenario,
        inputs,
        promql_expr_test=[
            {
                "expr": close_to(f"{expr}{flt}", value),
                "eval_time": scenario.time(t),
                "exp_samples": [{"labels": _labels(spec, slo, **window), "value": 1}],
            }
            for expr, value in ((sli_error_metric(SLI_WINDOWS[0]), ratio), (events_metric(ERROR_EVENTS), errors))
        ],
    )


def client_failures_test(spec: Spec, slo: SLOSpec) -> Test | None:
    """A synthetic SLO, each minute: 880 answers 200 and 20 answer 422 (within any threshold), 10 answer 503,
    10 end in each transport error kind, 30 are dropped. Bad: the 5xx, every kind and every drop, 100 in 1000,
    for availability and latency alike (the failed and dropped requests are in no bucket)."""
    if not reads_loadgen(slo):
        return None
    steps = 20
    route, _, _ = (route_label(slo, r) for r in prediction_routes(slo))
    lg = loadgen_labels(slo)
    per_minute = {"200": 880, "422": 20, "503": 10, **dict.fromkeys(LOADGEN_ERROR_KINDS, 10)}
    dropped = 30
    inputs = [
        {"series": LOADGEN_REQUESTS + labels(lg, route, f'outcome="{outcome}"'), "values": f"0+{n}x{steps}"}
        for outcome, n in per_minute.items()
    ]
    inputs.append({"series": LOADGEN_DROPPED + labels(lg), "values": f"0+{dropped}x{steps}"})
    le = reads(slo).le
    if le is not None:
        good = per_minute["200"] + per_minute["422"]  # every answer below 500 is in the histogram, all fast
        bucket = f'le="{le}"'
        inputs += [
            {"series": f"{LOADGEN_HISTOGRAM}_count" + labels(lg, route), "values": f"0+{good}x{steps}"},
            {"series": f"{LOADGEN_HISTOGRAM}_bucket" + labels(lg, route, bucket), "values": f"0+{good}x{steps}"},
        ]
    total = sum(per_minute.values()) + dropped
    bad = total - per_minute["200"] - per_minute["422"]
    scenario = Scenario([Segment(steps, Fraction(0))], MINUTE)
    flt = _flt(spec, slo)
    window = {"sloth_window": prom_duration(SLI_WINDOWS[0])}
    expected = (
        (sli_error_metric(SLI_WINDOWS[0]), Fraction(bad, total)),
        (events_metric(ERROR_EVENTS), Fraction(bad, MINUTE)),
        (events_metric(TOTAL_EVENTS), Fraction(total, MINUTE)),
    )
    return _test(
        f"{slo.name}: per minute 880 x 200 and 20 x 422 (good), 10 x 503, 10 of each transport error kind "
        f"({', '.join(LOADGEN_ERROR_KINDS)}) and {dropped} dropped (bad): SLI 5m error ratio {bad}/{total}",
        scenario,
        inputs,
        promql_expr_test=[
            {
                "expr": close_to(f"{expr}{flt}", value),
                "eval_time": scenario.time(steps),
                "exp_samples": [{"labels": _labels(spec, slo, **window), "value": 1}],
            }
            for expr, value in expected
        ],
    )


def min_events_test(spec: Spec, slo: SLOSpec) -> Test | None:
    """2 requests in 3 fail: at 0.05 rps (15 requests per 5m, 90 per 30m) no page; at 1 rps, a page."""
    if slo.alerting.page_alert.disable or slo.sli.events is None or not slo.min_events:
        return None
    bad = Fraction(2, 3)
    scenario = Scenario([Segment(60, bad, Fraction(1, 20)), Segment(20, bad, Fraction(1))], MINUTE)
    times = [10, 30, 59, 70, 79]
    pages = [bool(fires(spec, slo, scenario, t, "page")) for t in times]
    if pages != [False, False, False, True, True]:
        raise AssertionError(f"{slo.name}: the min-events scenario does not hold then fire the page: {pages}")
    return _test(
        f"{slo.name}: error ratio 2/3 at 0.05 rps (under {slo.min_events} requests in every page short window): "
        "no page; the same ratio at 1 rps: a page",
        scenario,
        input_series(slo, scenario),
        alert_rule_test=alert_checks(spec, slo, scenario, times),
    )


def absent_tests(spec: Spec, slo: SLOSpec) -> list[Test]:
    """A wrong selector (the series carry another job; another metric name when the SLO names no job) fires; a
    restart (3 minutes without series) does not."""
    rule = absent_alert(spec, slo)
    expected = [{"exp_labels": rule["labels"], "exp_annotations": rule["annotations"]}]
    steps = (ABSENT_RANGE + ABSENT_FOR) // MINUTE + 10
    scenario = Scenario([Segment(steps, Fraction(0))], MINUTE)
    series = input_series(slo, scenario)
    job = reads(slo).job
    if job is not None:
        typo = job[:-2] + job[-1] if len(job) > 2 else job + "x"  # "servce", "loadgn": a job one letter off
        wrong = [{**s, "series": s["series"].replace(f'job="{job}"', f'job="{typo}"')} for s in series]
        mistake, who = f"job {typo}", job
    else:
        wrong = [{**s, "series": _misspelt(s["series"])} for s in series]
        mistake, who = "metric names misspelt", "target"
    fire_at = ABSENT_FOR // MINUTE

    def check(t: int, alerts: list[dict[str, Any]]) -> dict[str, Any]:
        return {"eval_time": prom_duration(t * MINUTE), "alertname": ABSENT_ALERT, "exp_alerts": alerts}

    half = steps // 2
    restart = [
        {
            **s,
            "series": s["series"],
            "values": f"{_first(s['values'], half)} _x3 {_first(s['values'], steps - half - 3)}",
        }
        for s in series
    ]
    gone = [{**s, "values": f"{_first(s['values'], 10)} _x{steps - 10}"} for s in series]
    gone_at = 10 + (ABSENT_RANGE + ABSENT_FOR) // MINUTE
    return [
        _test(
            f"{slo.name}: the SLO's selectors match nothing ({mistake}): {ABSENT_ALERT} fires "
            f"{prom_duration(ABSENT_FOR)} after start",
            scenario,
            wrong,
            alert_rule_test=[check(fire_at - 1, []), check(fire_at + 1, expected), check(steps, expected)],
        ),
        _test(
            f"{slo.name}: the {who} restarts (no series for 3 minutes, counters from 0 again): no {ABSENT_ALERT}",
            scenario,
            restart,
            alert_rule_test=[check(t, []) for t in (fire_at + 1, half + 2, half + 5, steps)],
        ),
        _test(
            f"{slo.name}: the series stop for good at 10m: {ABSENT_ALERT} fires "
            f"{prom_duration(ABSENT_RANGE + ABSENT_FOR)} later",
            scenario,
            gone,
            alert_rule_test=[check(gone_at - 1, []), check(gone_at + 1, expected)],
        ),
    ]


def _misspelt(series: str) -> str:
    """The series under a metric name one letter longer, which no selector of the SLO names."""
    name, brace, rest = series.partition("{")
    return f"{name}x{brace}{rest}"


def _first(values: str, steps: int) -> str:
    """The first `steps` + 1 samples of a one-segment `0+NxM` series, from 0 (a restarted counter)."""
    start, rest = values.split("+", 1)
    increment = rest.split("x", 1)[0]
    return f"{start}+{increment}x{steps}"


def edge_tests(spec: Spec, slo: SLOSpec) -> tuple[list[Test], list[str]]:
    """The edge tests of one SLO, and notes on those that do not apply to it."""
    found = reads(slo)
    blind = (
        found.le is not None and not found.client and not (found.latency_family or Family("", True, "")).status_label
    )
    optional = {
        "one-incident test (needs a page whose quick condition 50x the budget reaches)": incident_test(spec, slo),
        "fast-failure test ("
        + ("the latency histogram has no status label" if blind else "a latency SLI's")
        + ")": fast_failures_test(spec, slo),
        "client-failures test (a synthetic SLO's)": client_failures_test(spec, slo),
        "min-events test (needs an enabled page and an events SLI with x-min-events > 0)": min_events_test(spec, slo),
    }
    notes = [f"{name}: does not apply" for name, t in optional.items() if t is None]
    tests = [t for t in optional.values() if t is not None]
    return [*tests, spiky_test(spec, slo), gap_test(spec, slo), *absent_tests(spec, slo)], notes
