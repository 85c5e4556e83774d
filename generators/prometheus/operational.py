"""Operational alerts: what must hold for the SLO alerts to mean anything.

SLO alerts are blind when nothing measures (no synthetic traffic, target down) and late when the
service is not ready or sheds load; a loadgen that drops requests under-reports the load it claims.
These are not in the Sloth spec (Sloth has no such notion); they live here, as data, and are written
next to the SLO rules (for a spec about another server, only those that read what it has: `alerts_for`).
Rate windows shrink with the SLO windows in drills; `for` durations do not: they wait out real events (a
service starting, a scrape missed), which take as long in a drill as anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from contract.metrics import (
    LOADGEN_DROPPED,
    LOADGEN_JOB,
    LOADGEN_REQUEST_DURATION,
    LOADGEN_SCHEDULED,
    LOADGEN_SENT,
    READY,
    REQUEST_DURATION,
    SERVICE_JOB,
    SHED,
    le_text,
)
from contract.routes import prediction_routes_regex
from generators.prometheus.slo_rules import RUNBOOK, Group, Rule
from slo.reads import reads, reads_our_service
from slo.spec import DEFAULT_MIN_EVENTS, Spec
from slo.windows import MINUTE, Windows, prom_duration


@dataclass(frozen=True)
class OperationalAlert:
    name: str
    #: PromQL with `{window}` where a rate range goes.
    expr: str
    for_seconds: int
    severity: str
    summary: str


#: PromQL placeholders of OperationalAlert.expr: a rate range, and that range's length in seconds.
WINDOW, WINDOW_SECONDS = "{window}", "{window_seconds}"


#: Range of the rates the operational alerts read.
RATE_WINDOW = 5 * MINUTE
#: Share of scheduled requests the loadgen may drop before it is an alert.
LOADGEN_DROP_RATIO = 0.01

LG = f'job="{LOADGEN_JOB}"'
SVC = f'job="{SERVICE_JOB}"'

#: The client's and the service's views of a route disagree when the client's p99 is over RATIO x the service's
#: and over FLOOR (a bucket boundary: 2 x 3 ms is not worth a look), with MIN_EVENTS client answers in the window.
DISAGREE_QUANTILE = 0.99
DISAGREE_RATIO = 2
DISAGREE_FLOOR_SECONDS = 0.05
DISAGREE_MIN_EVENTS = DEFAULT_MIN_EVENTS
_ROUTES = f'route=~"{prediction_routes_regex()}"'


def _p99(histogram: str, matchers: str) -> str:
    rate = f"rate({histogram}_bucket{{{matchers}}}[{WINDOW}])"
    return f"histogram_quantile({DISAGREE_QUANTILE:g}, sum by (route, le) ({rate}))"


#: Client p99 per route (the load generator's histogram: answers below 500 only, from the scheduled start) against
#: the service's p99 of the same routes and the same answers (5xx left out on both sides). Both name the route
#: template `route`; the joins are on it alone. The value is the client's p99.
_CLIENT_P99 = _p99(LOADGEN_REQUEST_DURATION.name, f"{LG}, {_ROUTES}")
_SERVICE_P99 = _p99(REQUEST_DURATION.name, f'{SVC}, {_ROUTES}, status_code!~"5.."')
_CLIENT_ANSWERS = f"sum by (route) (rate({LOADGEN_REQUEST_DURATION.name}_count{{{LG}, {_ROUTES}}}[{WINDOW}]))"
DISAGREE_EXPR = (
    f"(\n  {_CLIENT_P99}\n  > {le_text(DISAGREE_FLOOR_SECONDS)}\n)\n"
    f"> on(route)\n  {DISAGREE_RATIO} * {_SERVICE_P99}\n"
    f"and on(route)\n  {_CLIENT_ANSWERS} * {WINDOW_SECONDS} >= {DISAGREE_MIN_EVENTS}\n"
)

ALERTS: tuple[OperationalAlert, ...] = (
    OperationalAlert(
        name="SyntheticTrafficMissing",
        expr=f"(up{{{LG}}} == 0)\nor on() absent(up{{{LG}}})\n"
        f"or on() (sum(rate({LOADGEN_SENT.name}{{{LG}}}[{{window}}])) == 0)\n",
        for_seconds=5 * MINUTE,
        severity="warning",
        summary="The load generator is down or sends nothing: the SLO alerts see no synthetic traffic.",
    ),
    OperationalAlert(
        name="ServiceTargetDown",
        expr=f"(up{{{SVC}}} == 0)\nor on() absent(up{{{SVC}}})\n",
        for_seconds=2 * MINUTE,
        severity="critical",
        summary="Prometheus cannot scrape the prediction service: it is down or unreachable.",
    ),
    OperationalAlert(
        name="ServiceNotReady",
        expr=f"{READY.name}{{{SVC}}} == 0\n",
        for_seconds=5 * MINUTE,
        severity="critical",
        summary="The prediction service answers but is not ready (model not loaded or warm-up failed).",
    ),
    OperationalAlert(
        name="LoadgenDroppingRequests",
        expr=f"sum(rate({LOADGEN_DROPPED.name}{{{LG}}}[{{window}}]))\n/\n"
        f"sum(rate({LOADGEN_SCHEDULED.name}{{{LG}}}[{{window}}]))\n> {LOADGEN_DROP_RATIO}\n",
        for_seconds=5 * MINUTE,
        severity="warning",
        summary="The load generator drops more than 1% of its scheduled requests: it cannot keep up.",
    ),
    OperationalAlert(
        name="ServiceSheddingLoad",
        expr=f"sum(rate({SHED.name}{{{SVC}}}[{{window}}])) > 0\n",
        for_seconds=2 * MINUTE,
        severity="warning",
        summary="The prediction service sheds load (answers 503): it is over capacity.",
    ),
    OperationalAlert(
        name="RequestsWaitBeforeService",
        expr=DISAGREE_EXPR,
        for_seconds=10 * MINUTE,
        severity="warning",
        summary=f"On a prediction route the synthetic clients' p99 is over {DISAGREE_RATIO}x the service's own "
        f"(and over {DISAGREE_FLOOR_SECONDS * 1000:g} ms): requests wait before the service sees them (accept "
        "backlog, socket buffers, a saturated worker, the network). The service's latency SLIs miss that wait.",
    ),
)


def operational_rule(alert: OperationalAlert, windows: Windows) -> Rule:
    return {
        "alert": alert.name,
        "expr": alert.expr.replace(WINDOW, windows.range(RATE_WINDOW)).replace(
            WINDOW_SECONDS, f"{windows.actual(RATE_WINDOW):g}"
        ),
        "for": prom_duration(alert.for_seconds),
        "labels": {"severity": alert.severity, "category": "operational"},
        "annotations": {"summary": alert.summary, "runbook_url": f"{RUNBOOK}#{alert.name.lower()}"},
    }


#: The alerts that read our service's own metrics (readiness, shedding, its request histogram under our labels).
OUR_SERVICE_ONLY = frozenset({"ServiceNotReady", "ServiceSheddingLoad", "RequestsWaitBeforeService"})


def alerts_for(specs: Sequence[Spec]) -> list[OperationalAlert]:
    """The operational alerts that mean something for these specs (all of them for ours, or for none given): a
    target that is not our service has no readiness gauge, shed counter or histogram of ours, so the alerts on
    them could never fire; a spec that reads no server-side metric (the `loadgen` preset: a target without
    metrics) has no scrape target whose absence is an incident. ServiceTargetDown watches the job its SLOs read."""
    if not specs or any(reads_our_service(spec) for spec in specs):
        return list(ALERTS)
    jobs = [r.job for spec in specs for r in map(reads, spec.slos) if not r.client and r.job]
    chosen = []
    for alert in ALERTS:
        if alert.name in OUR_SERVICE_ONLY or (alert.name == "ServiceTargetDown" and not jobs):
            continue
        if alert.name == "ServiceTargetDown":
            alert = replace(alert, expr=alert.expr.replace(SVC, f'job="{jobs[0]}"'))
        chosen.append(alert)
    return chosen


def operational_groups(windows: Windows | None = None, specs: Sequence[Spec] = ()) -> list[Group]:
    windows = windows or Windows()
    rules = [operational_rule(a, windows) for a in alerts_for(specs)]
    return [{"name": "slo-stack-operational", "rules": rules}]
