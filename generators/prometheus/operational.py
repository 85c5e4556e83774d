"""Operational alerts: what must hold for the SLO alerts to mean anything.

SLO alerts are blind when nothing measures (no synthetic traffic, target down) and late when the
service is not ready or sheds load; a loadgen that drops requests under-reports the load it claims.
These are not in the Sloth spec (Sloth has no such notion); they live here, as data, and are written
next to the SLO rules. `for` durations and rate windows shrink with the SLO windows in drills.
"""

from __future__ import annotations

from dataclasses import dataclass

from generators.prometheus.slo_rules import RUNBOOK, Group, Rule
from slo.windows import MINUTE, Windows


@dataclass(frozen=True)
class OperationalAlert:
    name: str
    #: PromQL with `{window}` where a rate range goes.
    expr: str
    for_seconds: int
    severity: str
    summary: str


#: Range of the rates the operational alerts read.
RATE_WINDOW = 5 * MINUTE
#: Share of scheduled requests the loadgen may drop before it is an alert.
LOADGEN_DROP_RATIO = 0.01

ALERTS: tuple[OperationalAlert, ...] = (
    OperationalAlert(
        name="SyntheticTrafficMissing",
        expr='(up{job="loadgen"} == 0)\nor on() absent(up{job="loadgen"})\n'
        'or on() (sum(rate(loadgen_sent_total{job="loadgen"}[{window}])) == 0)\n',
        for_seconds=5 * MINUTE,
        severity="warning",
        summary="The load generator is down or sends nothing: the SLO alerts see no synthetic traffic.",
    ),
    OperationalAlert(
        name="ServiceTargetDown",
        expr='(up{job="service"} == 0)\nor on() absent(up{job="service"})\n',
        for_seconds=2 * MINUTE,
        severity="critical",
        summary="Prometheus cannot scrape the prediction service: it is down or unreachable.",
    ),
    OperationalAlert(
        name="ServiceNotReady",
        expr='service_ready{job="service"} == 0\n',
        for_seconds=5 * MINUTE,
        severity="critical",
        summary="The prediction service answers but is not ready (model not loaded or warm-up failed).",
    ),
    OperationalAlert(
        name="LoadgenDroppingRequests",
        expr=f'sum(rate(loadgen_dropped_total{{job="loadgen"}}[{{window}}]))\n/\n'
        f'sum(rate(loadgen_scheduled_total{{job="loadgen"}}[{{window}}]))\n> {LOADGEN_DROP_RATIO}\n',
        for_seconds=5 * MINUTE,
        severity="warning",
        summary="The load generator drops more than 1% of its scheduled requests: it cannot keep up.",
    ),
    OperationalAlert(
        name="ServiceSheddingLoad",
        expr='sum(rate(http_server_shed_requests_total{job="service"}[{window}])) > 0\n',
        for_seconds=2 * MINUTE,
        severity="warning",
        summary="The prediction service sheds load (answers 503): it is over capacity.",
    ),
)


def operational_rule(alert: OperationalAlert, windows: Windows) -> Rule:
    return {
        "alert": alert.name,
        "expr": alert.expr.replace("{window}", windows.range(RATE_WINDOW)),
        "for": windows.range(alert.for_seconds),
        "labels": {"severity": alert.severity, "category": "operational"},
        "annotations": {"summary": alert.summary, "runbook_url": f"{RUNBOOK}#{alert.name.lower()}"},
    }


def operational_groups(windows: Windows | None = None) -> list[Group]:
    windows = windows or Windows()
    return [{"name": "slo-stack-operational", "rules": [operational_rule(a, windows) for a in ALERTS]}]
