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

The input series are named and labelled as the SLO's own selectors read them (slo/reads.py): its job, its
metric families (a histogram's `_count` and bucket, a request counter), its route label and routes, the status
label of each family; for a synthetic SLO, the load generator's requests by outcome, its histogram of the requests
that did not fail and its dropped counter (contract/metrics.py). So the same tests prove the rules of our spec
and of any spec `python -m slo init` writes for another server. They carry noise the SLIs must ignore (a route
the SLO does not count, failing and slow all along, and a label no SLI selects) and spread over the SLO's routes
(an availability SLO's good answers on one, its errors on another, a latency SLO's requests on a third, cycling
when it has fewer), so a route selector that misses one of them fails a test.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from contract import metrics, routes
from generators.prometheus.slo_rules import (
    ERROR_EVENTS,
    NO_DATA,
    SHORT_WINDOWS,
    TOTAL_EVENTS,
    alert_annotations,
    alert_labels,
    enabled_severities,
    events_metric,
    meta_recordings,
    sli_error_metric,
    slo_groups,
    slo_labels,
)
from slo.reads import reads
from slo.spec import SLOSpec, Spec, SpecError
from slo.windows import (
    DAY,
    HOUR,
    KEEP_FIRING,
    MINUTE,
    PERIOD_SECONDS,
    POLICY,
    SLI_WINDOWS,
    BurnCondition,
    Severity,
    Windows,
    prom_duration,
)

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
#: A server's series carry a label no SLI selects (method), which every sum must ignore; job is the SLO's own.
SERVER_LABELS = 'instance="127.0.0.1:8000", method="POST"'
#: The noise's route when the contract's noise routes are among the SLO's own.
NOT_AN_SLO_ROUTE = "/not-an-slo-route"
#: The load generator's series (a synthetic SLO's inputs).
LOADGEN_HISTOGRAM = metrics.LOADGEN_REQUEST_DURATION.name
LOADGEN_REQUESTS = metrics.LOADGEN_REQUESTS.name
LOADGEN_DROPPED = metrics.LOADGEN_DROPPED.name


@dataclass(frozen=True)
class Segment:
    steps: int
    error_ratio: Fraction
    #: Requests per second during the segment (0: the series exist but nothing is asked); x step is whole.
    rate: Fraction = Fraction(RATE)


class Scenario:
    """A piecewise-constant request rate and error ratio, sampled every `step` seconds from t=0.

    Counts per step are whole numbers (the ratio is rounded to them): promtool adds float
    increments one by one, and a segment boundary a hair below the running sum reads as a
    counter reset.
    """

    def __init__(self, segments: list[Segment], step: int) -> None:
        self.step = step
        self.segments = [
            Segment(
                s.steps,
                Fraction(round(s.error_ratio * s.rate * step), s.rate * step) if s.rate else Fraction(0),
                s.rate,
            )
            for s in segments
        ]
        #: Requests and errors from 0 to the end of each step (prefix sums).
        if any((s.rate * step).denominator != 1 for s in segments):
            raise ValueError(f"requests per step must be whole numbers: {[s.rate * step for s in segments]}")
        self.requests, self.errors = [Fraction(0)], [Fraction(0)]
        for seg in self.segments:
            for _ in range(seg.steps):
                self.requests.append(self.requests[-1] + seg.rate * step)
                self.errors.append(self.errors[-1] + seg.error_ratio * seg.rate * step)

    @staticmethod
    def _whole(segment: Segment, step: int) -> Fraction:
        """The segment's error ratio rounded to whole errors per step."""
        total = segment.rate * step
        return Fraction(round(segment.error_ratio * total), total) if total else Fraction(0)

    @property
    def steps(self) -> int:
        return len(self.requests) - 1

    def _start(self, t: int, window_seconds: int) -> int:
        return max(0, t - window_seconds // self.step)

    def ratio(self, t: int, window_seconds: int) -> Fraction | None:
        """Error ratio over (t - window, t], t in steps; over what exists when the history is shorter.

        None when the window is shorter than a step (rate() then sees one sample and returns nothing) or
        holds no request (0/0).
        """
        if window_seconds < self.step or t == 0:
            return None
        start = self._start(t, window_seconds)
        requests = self.requests[t] - self.requests[start]
        return (self.errors[t] - self.errors[start]) / requests if requests else None

    def rate(self, t: int, window_seconds: int, errors: bool = False) -> Fraction | None:
        """rate() of the requests (or errors) over the window at step t, as Prometheus computes it.

        The counters start at 0 at t=0, so Prometheus never extrapolates before the first sample (its
        zero-point limit): over a history shorter than the window, the rate is what exists / the window.
        """
        if t == 0:
            return None
        counts = self.errors if errors else self.requests
        return Fraction(counts[t] - counts[self._start(t, window_seconds)]) / window_seconds

    def events(self, t: int, window_seconds: int) -> Fraction:
        """What the min-events guard reads: the window's request rate x its seconds."""
        return (self.rate(t, window_seconds) or Fraction(0)) * window_seconds

    def period_ratio(self, t: int) -> Fraction | None:
        """The period SLI at step t: the recorded 5m error rates summed over the period / the request rates'."""
        short = SLI_WINDOWS[0]
        start = max(1, t - PERIOD_SECONDS // self.step)
        errors = sum((self.rate(m, short, errors=True) or Fraction(0) for m in range(start, t + 1)), Fraction(0))
        requests = sum((self.rate(m, short) or Fraction(0) for m in range(start, t + 1)), Fraction(0))
        return errors / requests if requests else None

    def truth(self, t: int) -> Fraction:
        """Errors / requests over the whole history up to step t: the event-weighted SLI."""
        return self.errors[t] / self.requests[t]

    def values(self, kind: str) -> str:
        """promtool's expanding notation for the "bad", "good" or "all" requests counter."""
        parts, value = [], 0
        for i, seg in enumerate(self.segments):
            total = int(seg.rate * self.step)
            bad = int(seg.error_ratio * total)
            inc = {"bad": bad, "good": total - bad, "all": total}[kind]
            if i == 0:
                parts.append(f"0+{inc}x{seg.steps}")
            else:
                parts.append(f"{value + inc}+{inc}x{seg.steps - 1}")
            value += inc * seg.steps
        return " ".join(parts)

    def time(self, t: int) -> str:
        return prom_duration(t * self.step)


def reads_loadgen(slo: SLOSpec) -> bool:
    """Whether the SLO reads the load generator's metrics (a synthetic, client-side SLO)."""
    return reads(slo).client


def job_of(slo: SLOSpec) -> str:
    """The `job` of the series the SLO reads."""
    job = reads(slo).job
    if job is None:
        raise SpecError(f'SLO {slo.name}: its selectors name no job="...": the absent test changes the job')
    return job


def input_series(slo: SLOSpec, scenario: Scenario) -> list[dict[str, str]]:
    """The scenario's requests as the series the SLO reads: the service's, or the load generator's."""
    return loadgen_series(slo, scenario) if reads_loadgen(slo) else service_series(slo, scenario)


def prediction_routes(slo: SLOSpec) -> tuple[str, str, str]:
    """Where the good, the bad and the slow requests go: three of the SLO's routes, cycling when it has fewer
    (when it selects no route, the series carry none)."""
    found = reads(slo).routes or ("",)
    return found[0], found[1 % len(found)], found[2 % len(found)]


def route_label(slo: SLOSpec, route: str | None) -> str:
    """`<route label>="<route>"`; empty when the SLO selects no route (or there is none: no noise)."""
    label = reads(slo).route_label
    return f'{label}="{route}"' if label and route is not None else ""


def labels(*parts: str) -> str:
    """A label set from its parts (empty parts left out)."""
    return "{" + ", ".join(p for p in parts if p) + "}"


def noise_route(slo: SLOSpec, preferred: str) -> str | None:
    """A route the SLO must not count (its failures and slowness are not the SLO's); None when the SLO selects
    every route, so that no request is noise."""
    found = reads(slo)
    if found.route_label is None:
        return None
    return preferred if preferred not in found.routes else NOT_AN_SLO_ROUTE


def server_series(
    slo: SLOSpec, route: str | None, status: str, counts: str, bucket: str | None = None
) -> list[dict[str, str]]:
    """The series of one kind of request on a server: one per family the SLO reads (a histogram's `_count`,
    and its bucket at the threshold when `bucket` is given), each with the family's status label if it has one.
    None for the route: no such requests (no noise where the SLO counts every route)."""
    if route is None:
        return []
    found = reads(slo)
    job = f'job="{found.job}"' if found.job else ""
    series = []
    for family in found.families:
        status_label = f'{family.status_label}="{status}"' if family.status_label else ""
        named = (job, SERVER_LABELS, route_label(slo, route), status_label)
        series.append({"series": (f"{family.name}_count" if family.histogram else family.name) + labels(*named),
                       "values": counts})  # fmt: skip
        if family.histogram and bucket is not None:
            series.append({"series": f"{family.name}_bucket" + labels(*named, f'le="{found.le}"'), "values": bucket})
    return series


def loadgen_labels(slo: SLOSpec) -> str:
    return f'job="{job_of(slo)}", instance="127.0.0.1:9100"'


def loadgen_series(slo: SLOSpec, scenario: Scenario) -> list[dict[str, str]]:
    """The load generator's view: bad availability events are timeouts (every failure kind and the drops are the
    edge tests'), nothing dropped; a latency SLO's good events are the histogram's bucket."""
    good, bad, slow = (route_label(slo, r) for r in prediction_routes(slo))
    lg = loadgen_labels(slo)
    le = reads(slo).le
    noise_all = scenario.values("all")
    dropped = {"series": LOADGEN_DROPPED + labels(lg), "values": f"0+0x{scenario.steps}"}
    if le is None:
        noise = noise_route(slo, routes.MODEL_INFO)
        return [
            {"series": LOADGEN_REQUESTS + labels(lg, good, 'outcome="200"'), "values": scenario.values("good")},
            {"series": LOADGEN_REQUESTS + labels(lg, bad, 'outcome="timeout"'), "values": scenario.values("bad")},
            dropped,
            # Not a prediction route: its failures are not the SLO's.
            *([{"series": LOADGEN_REQUESTS + labels(lg, route_label(slo, noise), 'outcome="connect"'),
                "values": noise_all}] if noise else []),
        ]  # fmt: skip
    bucket = f'le="{le}"'
    noise = noise_route(slo, routes.MODEL_INFO)
    noisy = route_label(slo, noise)
    return [
        {"series": LOADGEN_REQUESTS + labels(lg, slow, 'outcome="200"'), "values": noise_all},
        {"series": f"{LOADGEN_HISTOGRAM}_count" + labels(lg, slow), "values": noise_all},
        {"series": f"{LOADGEN_HISTOGRAM}_bucket" + labels(lg, slow, bucket), "values": scenario.values("good")},
        dropped,
        # Not a prediction route: its slowness is not the SLO's.
        *([{"series": LOADGEN_REQUESTS + labels(lg, noisy, 'outcome="200"'), "values": noise_all},
           {"series": f"{LOADGEN_HISTOGRAM}_count" + labels(lg, noisy), "values": noise_all},
           {"series": f"{LOADGEN_HISTOGRAM}_bucket" + labels(lg, noisy, bucket), "values": f"0+0x{scenario.steps}"}]
          if noise else []),
    ]  # fmt: skip


def service_series(slo: SLOSpec, scenario: Scenario) -> list[dict[str, str]]:
    """The server's view, in the families and labels the SLO reads: good answers on one route, errors (500) on
    another, a latency SLO's requests on a third; noise (a 503, slowness) on a route the SLO does not count."""
    good, bad, slow = prediction_routes(slo)
    noise_all = scenario.values("all")
    if reads(slo).le is None:
        return [
            *server_series(slo, good, "200", scenario.values("good")),
            *server_series(slo, bad, "500", scenario.values("bad")),
            # Not a prediction route: its failures are not the SLO's.
            *server_series(slo, noise_route(slo, routes.MODEL_INFO), "503", noise_all),
        ]
    return [
        *server_series(slo, slow, "200", noise_all, scenario.values("good")),
        # Not a prediction route: its slowness is not the SLO's.
        *server_series(slo, noise_route(slo, routes.METRICS), "200", noise_all, f"0+0x{scenario.steps}"),
    ]


def above(value: Fraction | None, threshold: Fraction) -> bool | None:
    """value > threshold; None for a near-tie (an exact tie is a valid check: it is False)."""
    if value is None or value == threshold:
        return False
    if abs(value - threshold) < MARGIN * threshold:
        return None
    return value > threshold


def guard_holds(slo: SLOSpec, scenario: Scenario, t: int, cond: BurnCondition) -> bool | None:
    """The min-events guard of a condition at step t (None: too close to call)."""
    if slo.sli.events is None or slo.min_events == 0:
        return True
    minimum = Fraction(slo.min_events)
    events = scenario.events(t, cond.short)
    return True if events == minimum else above(events, minimum)


def fires(spec: Spec, slo: SLOSpec, scenario: Scenario, t: int, severity: Severity) -> list[BurnCondition]:
    """The conditions of this severity that hold at step t (the alert fires when any does)."""
    budget = Fraction(slo.error_budget)
    holding = []
    for cond in POLICY[severity]:
        threshold = Fraction(str(cond.factor)) * budget
        checks = (
            above(scenario.ratio(t, cond.short), threshold),
            above(scenario.ratio(t, cond.long), threshold),
            guard_holds(slo, scenario, t, cond),
        )
        if False in checks:
            continue
        if None in checks:
            raise ValueError(
                f"{slo.name} at step {t}: a check too close to the {severity} threshold {float(threshold)}"
            )
        holding.append(cond)
    return holding


def expected_alerts(spec: Spec, slo: SLOSpec, scenario: Scenario, t: int) -> list[dict[str, Any]]:
    """One alert per firing severity, whichever of its conditions hold: its labels carry no window."""
    alerts = []
    for severity in enabled_severities(slo):
        # keep_firing_for: an alert whose conditions held at a step within that long before t still fires.
        kept = KEEP_FIRING[severity] // scenario.step
        if not any(fires(spec, slo, scenario, s, severity) for s in range(t, max(t - kept, 1) - 1, -1)):
            continue
        labels = {**slo_labels(spec, slo), **alert_labels(spec, slo, severity)}
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
    tests: list[dict[str, Any]] = []
    if severity not in enabled_severities(slo):
        return tests, [f"{severity}: the alert is disabled in the spec"]
    notes = []
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

    def rate_at(m: int, window: int, errors: bool = False) -> Fraction:
        value = scenario.rate(m, window, errors)
        assert value is not None
        return value

    def sample(expr: str, value: Fraction, **extra: str) -> dict[str, Any]:
        sample_labels = ", ".join(f'{k}="{v}"' for k, v in sorted({**labels, **extra}.items()))
        return {"expr": close_to(expr, value), "eval_time": scenario.time(t),
                "exp_samples": [{"labels": "{" + sample_labels + "}", "value": 1}]}  # fmt: skip

    checks = [
        sample(f"{sli_error_metric(w)}{flt}", ratio_at(t, w), sloth_window=prom_duration(w)) for w in SLI_WINDOWS[:-1]
    ]
    short = prom_duration(SLI_WINDOWS[0])
    if slo.sli.events is not None:
        checks += [
            sample(f"{TOTAL_EVENTS.format(window=prom_duration(w))}{flt}", rate_at(t, w), sloth_window=prom_duration(w))
            for w in SHORT_WINDOWS
        ]
        checks += [
            sample(f"{events_metric(ERROR_EVENTS)}{flt}", rate_at(t, SLI_WINDOWS[0], errors=True), sloth_window=short),
            sample(f"{NO_DATA}{flt}", Fraction(0), sloth_window=short),
        ]
    # The period's ratio: the 5m error rate recorded at every evaluation (from the first with 2 samples),
    # summed, over the request rate's sum.
    period = scenario.period_ratio(t)
    assert period is not None
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
    from generators.prometheus import promtool_edges  # it builds on this module's scenarios

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

    if slo.error_budget == 0:  # a 100% objective: every burn rate is a division by zero
        note = [f"objective {slo.objective:g}%: no error budget, so no burn rate to test"]
        steps = {"edges": PAGE_STEP, "page": PAGE_STEP, "records": RECORDS_STEP, "ticket": SLOW_STEP}
        return {name: (file(step, []), note) for name, step in steps.items()}
    page, page_notes = fire_tests(spec, slo, "page", PAGE_STEP)
    ticket, ticket_notes = fire_tests(spec, slo, "ticket", SLOW_STEP)
    edges, edge_notes = promtool_edges.edge_tests(spec, slo)
    return {
        "edges": (file(PAGE_STEP, edges), edge_notes),
        "page": (file(PAGE_STEP, page), page_notes),
        "records": (file(RECORDS_STEP, recording_tests(spec, slo, RECORDS_STEP)), []),
        "ticket": (file(SLOW_STEP, [*ticket, *quiet_tests(spec, slo, SLOW_STEP)]), ticket_notes),
    }
