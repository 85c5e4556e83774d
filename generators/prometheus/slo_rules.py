"""Prometheus rules from the spec, with Sloth's names and labels so Sloth's Grafana dashboards work.

Per SLO, like Sloth v0.16 (see https://github.com/slok/sloth/blob/main/examples/_gen/getting-started.yml):

- group `sloth-slo-sli-recordings-<id>`: `slo:sli_error:ratio_rate<window>` for every alert window, and the
  period's `slo:sli_error:ratio_rate30d`;
- group `sloth-slo-meta-recordings-<id>`: `slo:objective:ratio`, `slo:error_budget:ratio`,
  `slo:time_period:days`, `slo:current_burn_rate:ratio`, `slo:period_burn_rate:ratio`,
  `slo:period_error_budget_remaining:ratio`, `sloth_slo_info`;
- group `sloth-slo-alerts-<id>`: the page and the ticket alert, one alert name told apart by `sloth_severity`,
  in Sloth's current form: each window's ratio is aggregated `without (sloth_window)`, so an incident is ONE
  alert series per SLO and severity however the conditions that hold change (the form Sloth dropped in v0.11
  carried the window of whichever condition held, and Alertmanager saw a new alert at every change).

Deliberate differences from Sloth, each for a number that stays true at an edge:

- the period SLI is weighted by requests, not by time. Sloth averages the 5m ratio over 30 days, so a quiet
  night's 5m ratio weighs as much as a busy hour's, and one 5m window without requests (0/0 = NaN) makes the
  30-day SLI NaN for 30 days. Here the SLI group also records the spec's two queries at 5m,
  `slo:sli_total_events:rate5m` (requests/s) and `slo:sli_error_events:rate5m` (errors/s), and the period SLI
  is sum_over_time(errors) / sum_over_time(requests). Every evaluation samples each 5m rate, so every request is
  counted window / interval times in both sums: the ratio is errors / requests over the period (up to the last
  5m's edge). A window without requests adds 0 to both sums; a period without any request gives no sample
  (never NaN). A `raw` SLI has no event counts: its period SLI stays the time average, of the 5m ratios that
  are numbers.
- "no data" is a series: `slo:sli_no_data:bool` is 1 while the SLO's 5m window holds no request (or its
  selectors match nothing), 0 otherwise.
- a burn condition needs `x-min-events` requests (default 100) in its short window (the total query over
  each short window is recorded, `slo:sli_total_events:rate<window>`): at low traffic one failed request out
  of three is not a page.
- `SLOMetricAbsent` fires when the SLO's total selectors have matched no series for a while (a wrong job, a
  renamed metric): otherwise the SLO reads as "no alert", forever. It reads `absent_over_time` over 10 minutes
  and waits 5 more, so neither a Prometheus restart (its TSDB keeps the samples) nor a service restart (the old
  samples stay in the range until new ones come) makes it fire. The error selectors are not checked: a
  5xx series legitimately does not exist until the first 5xx.
- the budget is printed exactly (`0.001`, where Sloth writes `1-0.999` = 0.0010000000000000009, so "at the
  budget rate" would not be silent), and annotations are rendered at generation time (no templates) so
  promtool tests can state them; the windows of each condition are in the `windows` annotation.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from slo.selectors import Selector, selectors
from slo.spec import WINDOW_VARIABLE, AlertSpec, SLOSpec, Spec
from slo.windows import (
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

SLI_ERROR = "slo:sli_error:ratio_rate{window}"
#: The spec's total and error queries at the shortest window: what the period SLI sums.
TOTAL_EVENTS = "slo:sli_total_events:rate{window}"
ERROR_EVENTS = "slo:sli_error_events:rate{window}"
#: Windows whose request rate is recorded: the shortest and every alert's short window (the min-events guard).
SHORT_WINDOWS: tuple[int, ...] = tuple(sorted({SLI_WINDOWS[0], *(c.short for conds in POLICY.values() for c in conds)}))
#: 1 while the SLO's shortest window holds no request, 0 otherwise.
NO_DATA = "slo:sli_no_data:bool"
ABSENT_ALERT = "SLOMetricAbsent"
#: `absent_over_time` range and `for` of the absent alert: real minutes even in drills (a start takes real time).
ABSENT_RANGE = 10 * MINUTE
ABSENT_FOR = 5 * MINUTE
GENERATOR = "slo-stack"
RUNBOOK = "prometheus/RUNBOOK.md"

Rule = dict[str, Any]
Group = dict[str, Any]


def sli_error_metric(nominal_seconds: int) -> str:
    return SLI_ERROR.format(window=prom_duration(nominal_seconds))


def events_metric(template: str) -> str:
    """The shortest window's events recording (TOTAL_EVENTS or ERROR_EVENTS)."""
    return template.format(window=prom_duration(SLI_WINDOWS[0]))


def id_labels(spec: Spec, slo: SLOSpec) -> dict[str, str]:
    return {"sloth_id": spec.slo_id(slo), "sloth_service": spec.service, "sloth_slo": slo.name}


def slo_labels(spec: Spec, slo: SLOSpec) -> dict[str, str]:
    """Labels every rule of the SLO carries: the spec's, the SLO's, then Sloth's ids (sorted, like Sloth)."""
    return dict(sorted({**spec.labels, **slo.labels, **id_labels(spec, slo)}.items()))


def id_filter(spec: Spec, slo: SLOSpec) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in id_labels(spec, slo).items()) + "}"


def _windowed(labels: dict[str, str], nominal: int) -> dict[str, str]:
    return dict(sorted({**labels, "sloth_window": prom_duration(nominal)}.items()))


def sli_recordings(spec: Spec, slo: SLOSpec, windows: Windows) -> list[Rule]:
    labels = slo_labels(spec, slo)
    short = SLI_WINDOWS[0]
    rules = event_recordings(spec, slo, windows)
    for nominal in SLI_WINDOWS[:-1]:
        expr = slo.sli.error_ratio_query().replace(WINDOW_VARIABLE, windows.range(nominal))
        if slo.sli.events is None and nominal == short:
            expr = f"({expr}) >= 0"  # a raw ratio that is NaN (0/0) is no sample: the period average skips it
        rules.append({"record": sli_error_metric(nominal), "expr": expr + "\n", "labels": _windowed(labels, nominal)})
    rules.append(
        {
            "record": sli_error_metric(PERIOD_SECONDS),
            "expr": period_sli_expr(spec, slo, windows),
            "labels": _windowed(labels, PERIOD_SECONDS),
        }
    )
    rules.append({"record": NO_DATA, "expr": no_data_expr(spec, slo), "labels": _windowed(labels, short)})
    return rules


def event_recordings(spec: Spec, slo: SLOSpec, windows: Windows) -> list[Rule]:
    """The spec's total query over every short window of the alerts (the min-events guard reads them; the
    period sums the shortest), then its error query over the shortest. An events SLI only.

    An error query that selects nothing (no 5xx series yet) records 0 errors where requests exist, so the
    period SLI reads 0, not nothing.
    """
    events = slo.sli.events
    if events is None:
        return []
    labels = slo_labels(spec, slo)
    rules: list[Rule] = [
        {
            "record": TOTAL_EVENTS.format(window=prom_duration(w)),
            "expr": events.total_query.replace(WINDOW_VARIABLE, windows.range(w)) + "\n",
            "labels": _windowed(labels, w),
        }
        for w in SHORT_WINDOWS
    ]
    short = SLI_WINDOWS[0]
    error = events.error_query.replace(WINDOW_VARIABLE, windows.range(short))
    rules.append(
        {
            "record": events_metric(ERROR_EVENTS),
            "expr": f"({error})\nor on()\n0 * {events_metric(TOTAL_EVENTS)}{id_filter(spec, slo)}\n",
            "labels": _windowed(labels, short),
        }
    )
    return rules


def period_sli_expr(spec: Spec, slo: SLOSpec, windows: Windows) -> str:
    flt, period = id_filter(spec, slo), windows.range(PERIOD_SECONDS)
    if slo.sli.events is None:
        short = sli_error_metric(SLI_WINDOWS[0]) + flt
        return f"sum_over_time({short}[{period}])\n/\ncount_over_time({short}[{period}])\n"
    return (
        f"sum_over_time({events_metric(ERROR_EVENTS)}{flt}[{period}])\n/\n"
        f"(sum_over_time({events_metric(TOTAL_EVENTS)}{flt}[{period}]) > 0)\n"
    )


def no_data_expr(spec: Spec, slo: SLOSpec) -> str:
    """1 when the shortest window holds no request (or nothing at all), 0 when it holds some."""
    flt = id_filter(spec, slo)
    if slo.sli.events is None:
        return f"0 * {sli_error_metric(SLI_WINDOWS[0])}{flt}\nor on()\nvector(1)\n"
    return f"({events_metric(TOTAL_EVENTS)}{flt} == bool 0)\nor on()\nvector(1)\n"


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


def _without_window(expr: str) -> str:
    return f"    max({expr}) without (sloth_window)\n"


def min_events_expr(spec: Spec, slo: SLOSpec, cond: BurnCondition, windows: Windows) -> str | None:
    """Requests in the condition's short window >= the SLO's minimum (None: no guard possible or wanted).

    The short window is never longer than the long one, so the long window holds that many too.
    """
    if slo.sli.events is None or slo.min_events == 0:
        return None
    total = TOTAL_EVENTS.format(window=prom_duration(cond.short)) + id_filter(spec, slo)
    return f"{total} * {windows.actual(cond.short):g} >= {slo.min_events}"


def condition_expr(spec: Spec, slo: SLOSpec, cond: BurnCondition, windows: Windows | None = None) -> str:
    flt = id_filter(spec, slo)
    budget = slo.error_budget
    parts = [
        f"slo:sli_error:ratio_rate{prom_duration(w)}{flt} > ({cond.factor:g} * {budget})"
        for w in (cond.short, cond.long)
    ]
    guard = min_events_expr(spec, slo, cond, windows or Windows())
    if guard is not None:
        parts.append(guard)
    return "    and\n".join(_without_window(p) for p in parts)


def severity_alert(slo: SLOSpec, severity: Severity) -> AlertSpec:
    return slo.alerting.page_alert if severity == "page" else slo.alerting.ticket_alert


def alert_labels(spec: Spec, slo: SLOSpec, severity: Severity) -> dict[str, str]:
    """Labels an SLO alert adds to those of its expression (which carries the SLO's labels, no window)."""
    return {**slo.alerting.labels, **severity_alert(slo, severity).labels, "sloth_severity": severity}


def windows_text(slo: SLOSpec, severity: Severity) -> str:
    """The conditions of an alert in words, for its `windows` annotation (the alert has no window label)."""
    first, *rest = (
        f"{c.factor:g}x over {prom_duration(c.long)} and {prom_duration(c.short)}" for c in POLICY[severity]
    )
    text = f"error ratio over {first.replace('x over', 'x the budget over', 1)}" + "".join(f", or {r}" for r in rest)
    if slo.sli.events is not None and slo.min_events:
        text += f"; each with at least {slo.min_events} requests in its short window"
    return text


def alert_annotations(spec: Spec, slo: SLOSpec, severity: Severity) -> dict[str, str]:
    what = slo.description or f"{slo.objective:g}% objective"
    name = slo.alerting.name or ABSENT_ALERT
    defaults = {
        "title": f"({severity}) {spec.service} {slo.name} SLO error budget burn rate is too fast.",
        "summary": f"{spec.service} {slo.name} ({what}) is burning its error budget too fast.",
        "runbook_url": f"{RUNBOOK}#{name.lower()}",
        "windows": windows_text(slo, severity),
    }
    return {**defaults, **slo.alerting.annotations, **severity_alert(slo, severity).annotations}


def enabled_severities(slo: SLOSpec) -> list[Severity]:
    return [s for s in POLICY if not severity_alert(slo, s).disable]


def slo_alerts(spec: Spec, slo: SLOSpec, windows: Windows | None = None) -> list[Rule]:
    rules: list[Rule] = []
    for severity in enabled_severities(slo):
        quick, slow = POLICY[severity]
        expr = f"(\n{condition_expr(spec, slo, quick, windows)})\nor\n(\n{condition_expr(spec, slo, slow, windows)})\n"
        rules.append(
            {
                "alert": slo.alerting.name,
                "expr": expr,
                "keep_firing_for": (windows or Windows()).range(KEEP_FIRING[severity]),
                "labels": alert_labels(spec, slo, severity),
                "annotations": alert_annotations(spec, slo, severity),
            }
        )
    return rules


def promql_selector(selector: Selector) -> str:
    """A selector as PromQL text (label values quoted as Go strings: JSON's escapes are a subset)."""
    return selector.metric + "{" + ",".join(f"{m.label}{m.op}{json.dumps(m.value)}" for m in selector.matchers) + "}"


def presence_selectors(slo: SLOSpec) -> list[str]:
    """The selectors that match series whenever the SLO has requests: the total query's and the histogram
    buckets the error query reads (an events SLI); every selector of a raw SLI's query."""
    events = slo.sli.events

    def found() -> Iterator[Selector]:
        if events is None:
            assert slo.sli.raw is not None
            yield from selectors(slo.sli.raw.error_ratio_query)
            return
        yield from selectors(events.total_query)
        yield from (s for s in selectors(events.error_query) if s.metric.endswith("_bucket"))

    return list(dict.fromkeys(promql_selector(s) for s in found()))


def absent_alert(spec: Spec, slo: SLOSpec) -> Rule:
    wanted = presence_selectors(slo)
    absent = "\nor\n".join(f"absent_over_time({s}[{prom_duration(ABSENT_RANGE)}])" for s in wanted)
    return {
        "alert": ABSENT_ALERT,
        "expr": f"count(\n{absent}\n)\n",
        "for": prom_duration(ABSENT_FOR),
        "labels": {**slo_labels(spec, slo), "severity": "warning"},
        "annotations": {
            "summary": f"{spec.service} {slo.name}: the SLO's selectors have matched no series for "
            f"{prom_duration(ABSENT_RANGE)}; the SLO measures nothing and its alerts cannot fire.",
            "selectors": "\n".join(wanted),
            "runbook_url": f"{RUNBOOK}#{ABSENT_ALERT.lower()}",
        },
    }


def slo_groups(spec: Spec, windows: Windows | None = None) -> list[Group]:
    """Every rule group for the spec, in Sloth's order, then the SLO's absent alert."""
    windows = windows or Windows()
    groups: list[Group] = []
    for slo in spec.slos:
        sid = spec.slo_id(slo)
        groups.append({"name": f"sloth-slo-sli-recordings-{sid}", "rules": sli_recordings(spec, slo, windows)})
        groups.append({"name": f"sloth-slo-meta-recordings-{sid}", "rules": meta_recordings(spec, slo, windows)})
        alerts = slo_alerts(spec, slo, windows)
        if alerts:
            groups.append({"name": f"sloth-slo-alerts-{sid}", "rules": alerts})
        groups.append({"name": f"slo-stack-absent-{sid}", "rules": [absent_alert(spec, slo)]})
    return groups
