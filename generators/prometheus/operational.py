"""Operational alerts: what must hold for the SLO alerts to mean anything.

SLO alerts are blind when nothing measures (no synthetic traffic, target down) and late when the
service is not ready or sheds load; a loadgen that drops requests under-reports the load it claims.
These are not in the Sloth spec (Sloth has no such notion); they live here, as data, and are written
next to the SLO rules. Rate windows shrink with the SLO windows in drills; `for` durations do not: they
wait out real events (a service starting, a scrape missed), which take as long in a drill as anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.metrics import LOADGEN_DROPPED, LOADGEN_JOB, LOADGEN_SCHEDULED, LOADGEN_SENT, READY, SERVICE_JOB, SHED
from generators.prometheus.slo_rules import RUNBOOK, Group, Rule
from slo.windows import MINUTE, Windows, prom_duration


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

LG = f'job="{LOADGEN_JOB}"'
SVC = f'job="{SERVICE_JOB}"'

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
)


def operational_rule(alert: OperationalAlert, windows: Windows) -> Rule:
    return {
        "alert": alert.name,
        "expr": alert.expr.replace("{window}", windows.range(RATE_WINDOW)),
        "for": prom_duration(alert.for_seconds),
        "labels": {"severity": alert.severity, "category": "operational"},
        "annotations": {"summary": alert.summary, "runbook_url": f"{RUNBOOK}#{alert.name.lower()}"},
    }


def operational_groups(windows: Windows | None = None) -> list[Group]:
    windows = windows or Windows()
    return [{"name": "slo-stack-operational", "rules": [operational_rule(a, windows) for a in ALERTS]}]
