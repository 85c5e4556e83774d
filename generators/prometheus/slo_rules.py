"""Prometheus rules from the spec, with Sloth's names and labels so Sloth's Grafana dashboards work.

Per SLO, like Sloth (see https://github.com/slok/sloth/blob/main/examples/_gen/getting-started.yml):

- group `sloth-slo-sli-recordings-<id>`: `slo:sli_error:ratio_rate<window>` for every alert window,
  plus the period's, which (as Sloth's "optimized" rule) averages the 5m ratio over the period;
- group `sloth-slo-meta-recordings-<id>`: `slo:objective:ratio`, `slo:error_budget:ratio`,
  `slo:time_period:days`, `slo:current_burn_rate:ratio`, `slo:period_burn_rate:ratio`,
  `slo:period_error_budget_remaining:ratio`, `sloth_slo_info`;
- group `sloth-slo-alerts-<id>`: the page and the ticket alert, one alert name told apart by
  `sloth_severity`.

Two deliberate differences from Sloth's text: the budget is printed exactly (`0.001`, where Sloth
writes `1-0.999` = 0.0010000000000000009, so "at the budget rate" would not be silent), and
annotations are rendered at generation time (no templates) so promtool tests can state them.
"""

from __future__ import annotations

from typing import Any

from slo.spec import WINDOW_VARIABLE, SLOSpec, Spec
from slo.windows import PERIOD_SECONDS, POLICY, SLI_WINDOWS, BurnCondition, Severity, Windows, prom_duration

SLI_ERROR = "slo:sli_error:ratio_rate{window}"
GENERATOR = "slo-stack"
RUNBOOK = "prometheus/RUNBOOK.md"

Rule = dict[str, Any]
Group = dict[str, Any]


def sli_error_metric(nominal_seconds: int) -> str:
    return SLI_ERROR.format(window=prom_duration(nominal_seconds))


def id_labels(spec: Spec, slo: SLOSpec) -> dict[str, str]:
    return {"sloth_id": spec.slo_id(slo), "sloth_service": spec.service, "sloth_slo": slo.name}


def slo_labels(spec: Spec, slo: SLOSpec) -> dict[str, str]:
    """Labels every rule of the SLO carries: the spec's, the SLO's, then Sloth's ids (sorted, like Sloth)."""
    return dict(sorted({**spec.labels, **slo.labels, **id_labels(spec, slo)}.items()))


def id_filter(spec: Spec, slo: SLOSpec) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in id_labels(spec, slo).items()) + "}"


def sli_recordings(spec: Spec, slo: SLOSpec, windows: Windows) -> list[Rule]:
    rules: list[Rule] = []
    labels = slo_labels(spec, slo)
    for nominal in SLI_WINDOWS[:-1]:
        expr = slo.sli.error_ratio_query().replace(WINDOW_VARIABLE, windows.range(nominal))
        rules.append(
            {
                "record": sli_error_metric(nominal),
                "expr": expr + "\n",
                "labels": dict(sorted({**labels, "sloth_window": prom_duration(nominal)}.items())),
            }
        )
    shortest = sli_error_metric(SLI_WINDOWS[0]) + id_filter(spec, slo)
    period = windows.range(PERIOD_SECONDS)
    rules.append(
        {
            "record": sli_error_metric(PERIOD_SECONDS),
            "expr": f"sum_over_time({shortest}[{period}])\n/ ignoring (sloth_window)\n"
            f"count_over_time({shortest}[{period}])\n",
            "labels": {"sloth_window": prom_duration(PERIOD_SECONDS)},
        }
    )
    return rules


def meta_recordings(spec: Spec, slo: SLOSpec, windows: Windows) -> list[Rule]:
    labels = slo_labels(spec, slo)
    flt = id_filter(spec, slo)

    def burn_rate(sli: str) -> str:
        return f"{sli}{flt}\n/ on(sloth_id, sloth_slo, sloth_service) group_left\nslo:error_budget:ratio{flt}\n"

    days = windows.actual(PERIOD_SECONDS) / 86400
    return [
        {"record": "slo:objective:ratio", "expr": f"vector({slo.objective_ratio})", "labels": labels},
        {"record": "slo:error_budget:ratio", "expr": f"vector({slo.error_budget})", "labels": labels},
        {"record": "slo:time_period:days", "expr": f"vector({days:g})", "labels": labels},
        {
            "record": "slo:current_burn_rate:ratio",
            "expr": burn_rate(sli_error_metric(SLI_WINDOWS[0])),
            "labels": labels,
        },
        {"record": "slo:period_burn_rate:ratio", "expr": burn_rate(sli_error_metric(PERIOD_SECONDS)), "labels": labels},
        {
            "record": "slo:period_error_budget_remaining:ratio",
            "expr": f"1 - slo:period_burn_rate:ratio{flt}",
            "labels": labels,
        },
        {
            "record": "sloth_slo_info",
            "expr": "vector(1)",
            "labels": dict(
                sorted(
                    {
                        **labels,
                        "sloth_mode": "cli-gen-prom",
                        "sloth_objective": f"{slo.objective:g}",
                        "sloth_spec": spec.version,
                        "sloth_version": GENERATOR,
                    }.items()
                )
            ),
        },
    ]


def condition_expr(spec: Spec, slo: SLOSpec, cond: BurnCondition) -> str:
    flt = id_filter(spec, slo)
    budget = slo.error_budget
    return (
        f"    (slo:sli_error:ratio_rate{prom_duration(cond.short)}{flt} > ({cond.factor:g} * {budget}))\n"
        f"    and ignoring (sloth_window)\n"
        f"    (slo:sli_error:ratio_rate{prom_duration(cond.long)}{flt} > ({cond.factor:g} * {budget}))\n"
    )


def alert_labels(spec: Spec, slo: SLOSpec, severity: Severity) -> dict[str, str]:
    """Labels an SLO alert adds to those of its expression (which carries the sloth_* ids and window)."""
    alert = slo.alerting.page_alert if severity == "page" else slo.alerting.ticket_alert
    return {**slo.alerting.labels, **alert.labels, "sloth_severity": severity}


def alert_annotations(spec: Spec, slo: SLOSpec, severity: Severity) -> dict[str, str]:
    alert = slo.alerting.page_alert if severity == "page" else slo.alerting.ticket_alert
    what = slo.description or f"{slo.objective:g}% objective"
    defaults = {
        "title": f"({severity}) {spec.service} {slo.name} SLO error budget burn rate is too fast.",
        "summary": f"{spec.service} {slo.name} ({what}) is burning its error budget too fast.",
        "runbook_url": f"{RUNBOOK}#{slo.alerting.name.lower()}",
    }
    return {**defaults, **slo.alerting.annotations, **alert.annotations}


def slo_alerts(spec: Spec, slo: SLOSpec) -> list[Rule]:
    rules: list[Rule] = []
    for severity, (quick, slow) in POLICY.items():
        alert = slo.alerting.page_alert if severity == "page" else slo.alerting.ticket_alert
        if alert.disable:
            continue
        quick_expr, slow_expr = condition_expr(spec, slo, quick), condition_expr(spec, slo, slow)
        expr = f"(\n{quick_expr})\nor ignoring (sloth_window)\n(\n{slow_expr})\n"
        rules.append(
            {
                "alert": slo.alerting.name,
                "expr": expr,
                "labels": alert_labels(spec, slo, severity),
                "annotations": alert_annotations(spec, slo, severity),
            }
        )
    return rules


def slo_groups(spec: Spec, windows: Windows | None = None) -> list[Group]:
    """Every rule group for the spec, in Sloth's order."""
    windows = windows or Windows()
    groups: list[Group] = []
    for slo in spec.slos:
        sid = spec.slo_id(slo)
        groups.append({"name": f"sloth-slo-sli-recordings-{sid}", "rules": sli_recordings(spec, slo, windows)})
        groups.append({"name": f"sloth-slo-meta-recordings-{sid}", "rules": meta_recordings(spec, slo, windows)})
        alerts = slo_alerts(spec, slo)
        if alerts:
            groups.append({"name": f"sloth-slo-alerts-{sid}", "rules": alerts})
    return groups
