"""SLO overview: per objective of the spec, the SLI, the budget left, burn rates and alerts.

The queries read Sloth's recording rules (`slo:*`), generated from the same spec, so this
dashboard, the alerts and the load test's thresholds cannot disagree. "No data" is its own panel
(`slo:sli_no_data:bool`): a window without requests is not a 100% SLI.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.models.dashboard import Panel

from generators.grafana import panels as p
from generators.prometheus.slo_rules import NO_DATA, TOTAL_EVENTS
from slo.spec import SLOSpec, Spec
from slo.windows import PERIOD_SECONDS, POLICY, SLI_WINDOWS, prom_duration

#: The SLI windows the burn-rate alerts read (the period's own is the budget panel's).
WINDOWS = tuple(prom_duration(w) for w in SLI_WINDOWS if w != PERIOD_SECONDS)
PERIOD = prom_duration(PERIOD_SECONDS)


def build(spec: Spec) -> db.Dashboard:
    dash = p.dashboard(
        f"SLOs: {spec.service}",
        "slo-overview",
        "Each service-level objective of the SLO spec: SLI, error budget, burn rates, alerts.",
        ["slo", spec.service],
        "now-6h",
        "30s",
    )
    for slo in spec.slos:
        dash = dash.with_row(p.row(f"{slo.name}: {slo.objective:g}% over {PERIOD}"))
        for panel in _panels(slo, spec):
            dash = dash.with_panel(panel)
    return dash


def _panels(slo: SLOSpec, spec: Spec) -> list[Builder[Panel]]:
    sel = f'sloth_service="{spec.service}", sloth_slo="{slo.name}"'
    target = slo.objective / 100
    burn_lines = [
        (c.factor, "red" if severity == "page" else "orange") for severity, conds in POLICY.items() for c in conds
    ]
    return [
        p.stat_panel(
            "SLI now (5m)",
            f"{slo.description} Share of good events over the last 5 minutes; red under the objective "
            f"({slo.objective:g}%).",
            [(f"1 - slo:sli_error:ratio_rate5m{{{sel}}}", "SLI")],
            "percentunit",
            width=4,
            steps=((None, "red"), (target, "green")),
            decimals=3,
        ),
        p.stat_panel(
            f"Error budget left ({PERIOD})",
            "Share of the period's error budget not yet spent, weighted by requests (a quiet hour weighs "
            "less than a busy one): 100% is untouched, 0% is spent, negative is an SLO breach.",
            [(f"slo:period_error_budget_remaining:ratio{{{sel}}}", "budget left")],
            "percentunit",
            width=4,
            steps=((None, "red"), (0.0, "orange"), (0.25, "green")),
            decimals=1,
        ),
        p.stat_panel(
            "SLO alerts firing",
            "Burn-rate alerts of this SLO that fire now (page and ticket). 0 is healthy.",
            [(f'count(ALERTS{{{sel}, sloth_severity!="", alertstate="firing"}}) or on() vector(0)', "firing")],
            "none",
            width=4,
            steps=((None, "green"), (1, "red")),
        ),
        p.stat_panel(
            "Data (5m)",
            "1 (red): no request reached this SLO's queries in the last 5 minutes, so its SLIs are no data, "
            "not 100%, and its burn alerts cannot fire. 0: requests are counted.",
            [(f"{NO_DATA}{{{sel}}}", "no data")],
            "none",
            width=4,
            steps=((None, "green"), (1, "red")),
        ),
        *_requests(slo, sel),
        p.timeseries_panel(
            "SLI against objective",
            "Good-event ratio over 5m and 1h against the objective (dashed).",
            [
                (f"1 - slo:sli_error:ratio_rate5m{{{sel}}}", "SLI 5m"),
                (f"1 - slo:sli_error:ratio_rate1h{{{sel}}}", "SLI 1h"),
                (f"slo:objective:ratio{{{sel}}}", "objective"),
            ],
            "percentunit",
            width=12,
        ),
        p.timeseries_panel(
            "Burn rate per window",
            "Error ratio divided by the error budget, per window; the dashed lines are the burn-rate alert "
            "thresholds (page red, ticket orange). 1 spends the budget exactly over the period.",
            [
                (f"slo:sli_error:ratio_rate{w}{{{sel}}} / on() group_left slo:error_budget:ratio{{{sel}}}", w)
                for w in WINDOWS
            ],
            "x",
            width=12,
            lines=burn_lines,
            minimum=0,
        ),
        p.timeseries_panel(
            "Error budget burn-down",
            f"Error budget left over the {PERIOD} period: the slope is the burn rate.",
            [(f"slo:period_error_budget_remaining:ratio{{{sel}}}", "budget left")],
            "percentunit",
            width=12,
            lines=[(0.0, "red")],
        ),
    ]


def _requests(slo: SLOSpec, sel: str) -> list[Builder[Panel]]:
    """The request rate an events SLI counts (a raw SLI has no event counts)."""
    if slo.sli.events is None:
        return []
    return [
        p.stat_panel(
            "Requests/s (5m)",
            "Requests the SLO counts (its total query) per second over 5 minutes: the events its SLIs and "
            f"budget are weighted by; a burn alert needs {slo.min_events} in its short window.",
            [(f"{TOTAL_EVENTS.format(window='5m')}{{{sel}}}", "requests/s")],
            "reqps",
            width=8,
            decimals=1,
        ),
    ]
