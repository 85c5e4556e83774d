"""promtool unit tests for the SLO rules, generated from the spec with the expectation computed here.

For every alert condition the test feeds the service's histogram a clean history, then an error
ratio 10% above the condition's threshold (burn factor x budget), then recovery, and checks the
alert is silent before the expected time, fires by it, and resolves once the short window is
clean. Other tests keep the error ratio exactly at, and below, the budget for longer than the
longest window: no alert. Recording rules are checked against values computed here.

The expectation comes from first principles, not from the rules: with a constant request rate the
error ratio over a window is (errors in the window) / (requests in the window), computed here in
exact fractions. Check times too close to a threshold (under 1%) are refused, except an exact tie,
which must stay silent (the alerts compare with `>`). Request rates are whole numbers per second so
that a ratio exactly at the budget is exactly representable as a float (otherwise it rounds by one
ulp either way, and "exactly at the budget" becomes a coin toss).

The input series follow the service's metric contract (contract/metrics.py, contract/routes.py), plus
noise the SLIs must ignore (a non-prediction route failing and slow all along). They spread over the
contract's prediction routes (an availability SLO's good answers on one, its errors on another, a latency
SLO's requests on the third), so a route selector that misses one of them fails a test.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from contract import metrics, routes
from generators.prometheus.slo_rules import (
    alert_annotations,
    alert_labels,
    meta_recordings,
    sli_error_metric,
    slo_groups,
    slo_labels,
)
from slo.spec import SLOSpec, Spec
from slo.windows import DAY, HOUR, MINUTE, PERIOD_SECONDS, POLICY, SLI_WINDOWS, Severity, Windows, prom_duration

#: Requests per second in every scenario.
RATE = 1000
#: Fault ratio = threshold x this, in the "fires" scenarios.
ABOVE = Fraction(11, 10)
#: A check this close (relative) to a threshold is refused.
MARGIN = Fraction(1, 100)
#: Sample and evaluation steps: page tests (5m windows), recording rules, ticket and quiet tests (days
#: long; their windows are 30m and more). promtool's cost grows with steps x samples per window.
PAGE_STEP = MINUTE
RECORDS_STEP = 5 * MINUTE
SLOW_STEP = 15 * MINUTE
HISTOGRAM = metrics.REQUEST_DURATION.name
BASE_LABELS = f'job="{metrics.SERVICE_JOB}", instance="127.0.0.1:8000", method="POST"'


@dataclass(frozen=True)
class Segment:
    steps: int
    error_ratio: Fraction


class Scenario:
    """A piecewise-constant error ratio, sampled every `step` seconds from t=0.

    Counts per step are whole numbers (the ratio is rounded to them): promtool adds float
    increments one by one, and a segment boundary a hair below the running sum reads as a
    counter reset.
    """

    def __init__(self, segments: list[Segment], step: int) -> None:
        self.step = step
        self.total = RATE * step
        self.segments = [Segment(s.steps, Fraction(round(s.error_ratio * self.total), self.total)) for s in segments]
        self.prefix = [Fraction(0)]
        for seg in self.segments:
            for _ in range(seg.steps):
                self.prefix.append(self.prefix[-1] + seg.error_ratio)

    @property
    def steps(self) -> int:
        return len(self.prefix) - 1

    def ratio(self, t: int, window_seconds: int) -> Fraction | None:
        """Error ratio over (t - window, t], t in steps; over what exists when the history is shorter.

        None when the window is shorter than a step: rate() then sees one sample and returns nothing.
        """
        if window_seconds < self.step or t == 0:
            return None
        start = max(0, t - window_seconds // self.step)
        return (self.prefix[t] - self.prefix[start]) / (t - start)

    def values(self, kind: str) -> str:
        """promtool's expanding notation for the "bad", "good" or "all" requests counter."""
        parts, value = [], 0
        for i, seg in enumerate(self.segments):
            bad = int(seg.error_ratio * self.total)
            inc = {"bad": bad, "good": self.total - bad, "all": self.total}[kind]
            if i == 0:
                parts.append(f"0+{inc}x{seg.steps}")
            else:
                parts.append(f"{value + inc}+{inc}x{seg.steps - 1}")
            value += inc * seg.steps
        return " ".join(parts)

    def time(self, t: int) -> str:
        return prom_duration(t * self.step)


def input_series(slo: SLOSpec, scenario: Scenario) -> list[dict[str, str]]:
    good_route, bad_route, slow_route = (f'route="{r}"' for r in routes.PREDICTION_ROUTES)
    le = slo.latency_threshold_seconds
    noise_all = scenario.values("all")
    if le is None:
        return [
            {"series": f"{HISTOGRAM}_count{{{BASE_LABELS}, {good_route}, status_code=\"200\"}}",
             "values": scenario.values("good")},
            {"series": f"{HISTOGRAM}_count{{{BASE_LABELS}, {bad_route}, status_code=\"500\"}}",
             "values": scenario.values("bad")},
            # Not a prediction route: its failures are not the SLO's.
            {"series": f'{HISTOGRAM}_count{{{BASE_LABELS}, route="{routes.MODEL_INFO}", status_code="503"}}',
             "values": noise_all},
        ]  # fmt: skip
    bucket = f'le="{metrics.le_text(le)}"'
    return [
        {"series": f"{HISTOGRAM}_count{{{BASE_LABELS}, {slow_route}, status_code=\"200\"}}",
         "values": noise_all},
        {"series": f"{HISTOGRAM}_bucket{{{BASE_LABELS}, {slow_route}, status_code=\"200\", {bucket}}}",
         "values": scenario.values("good")},
        # Not a prediction route: its slowness is not the SLO's.
        {"series": f'{HISTOGRAM}_count{{{BASE_LABELS}, route="{routes.METRICS}", status_code="200"}}',
         "values": noise_all},
        {"series": f'{HISTOGRAM}_bucket{{{BASE_LABELS}, route="{routes.METRICS}", status_code="200", {bucket}}}',
         "values": f"0+0x{scenario.steps}"},
    ]  # fmt: skip


def above(value: Fraction | None, threshold: Fraction) -> bool | None:
    """value > threshold; None for a near-tie (an exact tie is a valid check: it is False)."""
    if value is None or value == threshold:
        return False
    if abs(value - threshold) < MARGIN * threshold:
        return None
    return value > threshold


def firing_window(spec: Spec, slo: SLOSpec, scenario: Scenario, t: int, severity: Severity) -> str | None:
    """The sloth_window label of the firing alert of this severity at minute t, None when silent."""
    budget = Fraction(slo.error_budget)
    for cond in POLICY[severity]:
        threshold = Fraction(str(cond.factor)) * budget
        both = (above(scenario.ratio(t, cond.short), threshold), above(scenario.ratio(t, cond.long), threshold))
        if False in both:
            continue
        if None in both:
            raise ValueError(f"{slo.name} at {t}m: a check too close to the {severity} threshold {float(threshold)}")
        return prom_duration(cond.short)
    return None


def expected_alerts(spec: Spec, slo: SLOSpec, scenario: Scenario, t: int) -> list[dict[str, Any]]:
    alerts = []
    for severity in POLICY:
        alert = slo.alerting.page_alert if severity == "page" else slo.alerting.ticket_alert
        window = firing_window(spec, slo, scenario, t, severity)
        if alert.disable or window is None:
            continue
        labels = {**slo_labels(spec, slo), "sloth_window": window, **alert_labels(spec, slo, severity)}
        alerts.append({"exp_labels": labels, "exp_annotations": alert_annotations(spec, slo, severity)})
    return alerts


def alert_checks(spec: Spec, slo: SLOSpec, scenario: Scenario, times: list[int]) -> list[dict[str, Any]]:
    return [
        {
            "eval_time": scenario.time(t),
            "alertname": slo.alerting.name,
            "exp_alerts": expected_alerts(spec, slo, scenario, t),
        }
        for t in times
    ]


def _severity_in(checks: dict[str, Any], severity: Severity) -> bool:
    return any(a["exp_labels"]["sloth_severity"] == severity for a in checks["exp_alerts"])


def fire_tests(spec: Spec, slo: SLOSpec, severity: Severity, step: int) -> tuple[list[dict[str, Any]], list[str]]:
    """One test per burn condition: silent before, firing by the expected time, resolved after recovery."""
    tests, notes = [], []
    budget = Fraction(slo.error_budget)
    conditions = POLICY[severity]
    # A clean history filling this severity's windows (a fresh Prometheus, whose long windows hold only
    # minutes of data, alerts sooner); it resolves once every condition has a clean short window.
    clean = max(c.long for c in conditions) // step
    settle = max(c.short for c in conditions) // step + 1
    for cond in conditions:
        threshold = Fraction(str(cond.factor)) * budget
        name = f"{severity} {cond.factor:g}x over {prom_duration(cond.long)} and {prom_duration(cond.short)}"
        if threshold * ABOVE >= 1:
            notes.append(
                f"{name}: unreachable for a {slo.objective:g}% objective (error ratio over {float(threshold):g})"
            )
            continue
        long = cond.long // step
        scenario = Scenario(
            [Segment(clean, Fraction(0)), Segment(long, threshold * ABOVE), Segment(settle + 1, Fraction(0))], step
        )
        ratio = scenario.segments[1].error_ratio
        fire_in = -(-long * threshold // ratio) + 1  # steps until the long window is over the threshold
        times = [clean + long * 17 // 20, clean + fire_in + max(1, long // 20), clean + long + settle]
        checks = alert_checks(spec, slo, scenario, times)
        if (
            _severity_in(checks[0], severity)
            or not _severity_in(checks[1], severity)
            or _severity_in(checks[2], severity)
        ):
            raise AssertionError(f"{slo.name} {name}: the scenario does not show silence, firing, resolution")
        tests.append(
            {
                "name": f"{slo.name}: {name}: error ratio {float(ratio):.5g} ({float(ratio / threshold):.3g}x the "
                f"threshold) fires within {scenario.time(fire_in)}, resolves {scenario.time(settle)} after recovery",
                "interval": prom_duration(step),
                "input_series": input_series(slo, scenario),
                "alert_rule_test": checks,
            }
        )
    return tests, notes


def quiet_tests(spec: Spec, slo: SLOSpec, step: int) -> list[dict[str, Any]]:
    """At and below the budget rate, for longer than the longest alert window: no alert."""
    longest = max(c.long for conds in POLICY.values() for c in conds)
    budget = Fraction(slo.error_budget)
    tests = []
    for label, ratio in (("at", budget), ("below", budget / 2)):
        scenario = Scenario([Segment((longest + 6 * HOUR) // step, ratio)], step)
        times = [w // step for w in (HOUR, 6 * HOUR, DAY, 2 * DAY, longest, longest + 6 * HOUR)]
        checks = alert_checks(spec, slo, scenario, times)
        if any(c["exp_alerts"] for c in checks):
            raise AssertionError(f"{slo.name}: an alert would fire {label} the budget")
        tests.append(
            {
                "name": f"{slo.name}: error ratio {label} the budget ({float(ratio):g}) for "
                f"{scenario.time(scenario.steps)}: silent",
                "interval": prom_duration(step),
                "input_series": input_series(slo, scenario),
                "alert_rule_test": checks,
            }
        )
    return tests


def close_to(expr: str, value: Fraction) -> str:
    tolerance = max(abs(float(value)) * 1e-9, 1e-15)
    return f"abs({expr} - {float(value)!r}) <= bool {tolerance:g}"


def recording_tests(spec: Spec, slo: SLOSpec, step: int) -> list[dict[str, Any]]:
    """The value and labels of every recording rule, after 3 days clean then 90 minutes at 5x the budget."""
    budget = Fraction(slo.error_budget)
    clean = max(SLI_WINDOWS[:-1]) // step
    scenario = Scenario(
        [Segment(clean, Fraction(0)), Segment(90 * MINUTE // step, min(budget * 5, Fraction(1, 2)))], step
    )
    ratio = scenario.segments[1].error_ratio
    t = scenario.steps
    labels = slo_labels(spec, slo)
    flt = "{" + f'sloth_id="{spec.slo_id(slo)}"' + "}"

    def ratio_at(m: int, window: int) -> Fraction:
        value = scenario.ratio(m, window)
        assert value is not None, "the recording test's step must fit in its shortest window"
        return value

    def sample(expr: str, value: Fraction, **extra: str) -> dict[str, Any]:
        sample_labels = ", ".join(f'{k}="{v}"' for k, v in sorted({**labels, **extra}.items()))
        return {"expr": close_to(expr, value), "eval_time": scenario.time(t),
                "exp_samples": [{"labels": "{" + sample_labels + "}", "value": 1}]}  # fmt: skip

    checks = [
        sample(f"{sli_error_metric(w)}{flt}", ratio_at(t, w), sloth_window=prom_duration(w)) for w in SLI_WINDOWS[:-1]
    ]
    # The period's ratio averages the 5m ratio recorded at every evaluation (from the first with 2 samples).
    recorded = [ratio_at(m, SLI_WINDOWS[0]) for m in range(1, t + 1)]
    period = sum(recorded, Fraction(0)) / len(recorded)
    short = prom_duration(SLI_WINDOWS[0])
    period_window = prom_duration(PERIOD_SECONDS)
    checks += [
        sample(f"{sli_error_metric(PERIOD_SECONDS)}{flt}", period, sloth_window=period_window),
        sample(f"slo:objective:ratio{flt}", Fraction(slo.objective_ratio)),
        sample(f"slo:error_budget:ratio{flt}", budget),
        sample(f"slo:time_period:days{flt}", Fraction(PERIOD_SECONDS, DAY)),
        sample(f"slo:current_burn_rate:ratio{flt}", ratio_at(t, SLI_WINDOWS[0]) / budget, sloth_window=short),
        sample(f"slo:period_burn_rate:ratio{flt}", period / budget, sloth_window=period_window),
        sample(f"slo:period_error_budget_remaining:ratio{flt}", 1 - period / budget, sloth_window=period_window),
        {"expr": f"sloth_slo_info{flt}", "eval_time": scenario.time(t),
         "exp_samples": [{"labels": "sloth_slo_info" + info_labels(spec, slo), "value": 1}]},
    ]  # fmt: skip
    return [
        {
            "name": f"{slo.name}: recording rules after {scenario.time(clean)} clean then "
            f"{scenario.time(t - clean)} at error ratio {float(ratio):g}",
            "interval": prom_duration(step),
            "input_series": input_series(slo, scenario),
            "promql_expr_test": checks,
        }
    ]


def info_labels(spec: Spec, slo: SLOSpec) -> str:
    rule = next(r for r in meta_recordings(spec, slo, Windows()) if r["record"] == "sloth_slo_info")
    return "{" + ", ".join(f'{k}="{v}"' for k, v in rule["labels"].items()) + "}"


def slo_test_files(spec: Spec, slo: SLOSpec, rule_file: str) -> dict[str, tuple[dict[str, Any], list[str]]]:
    """The promtool test files of one SLO by name suffix, each with its notes (conditions not tested)."""
    page, page_notes = fire_tests(spec, slo, "page", PAGE_STEP)
    ticket, ticket_notes = fire_tests(spec, slo, "ticket", SLOW_STEP)

    # Recordings before alerts at each step, every run: without an order promtool takes Go's map order,
    # and an alert then sometimes reads the previous step's recordings.
    order = [g["name"] for g in slo_groups(spec) if g["name"].endswith(f"-{spec.slo_id(slo)}")]

    def file(step: int, tests: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "rule_files": [rule_file],
            "evaluation_interval": prom_duration(step),
            "group_eval_order": order,
            "tests": tests,
        }

    return {
        "page": (file(PAGE_STEP, page), page_notes),
        "records": (file(RECORDS_STEP, recording_tests(spec, slo, RECORDS_STEP)), []),
        "ticket": (file(SLOW_STEP, [*ticket, *quiet_tests(spec, slo, SLOW_STEP)]), ticket_notes),
    }
