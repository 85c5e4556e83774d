"""Every panel of a generated dashboard, its queries run over the run's window: what the renderers draw.

The queries are the dashboards' own (generators/grafana/ builds them; nothing here restates one), their
template variables substituted as stack/dashboard_check.py does for Grafana's "All" (the same function), and
Grafana's built-ins as Grafana would set them for this window:
- `$__rate_interval`: max(4 x scrape interval, step + scrape interval), Grafana's own rule;
- `$__range`: the window's length (the instant panels' queries are evaluated at its end).
The step keeps a series at most MAX_POINTS points (and never finer than a scrape).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from contract.durations import parse_duration
from slo.windows import prom_duration
from stack.dashboard_check import substitute
from stack.prometheus import Prometheus, PrometheusError
from stack.spans import Window

#: Points per series on the page: about one per pixel of a plot's width (finer would not show; the incidents'
#: shading comes from the report, at its own finer grid), and a page under a megabyte or so.
MAX_POINTS = 400
#: Prometheus's own default when its config sets no global scrape interval.
DEFAULT_SCRAPE = 60.0
#: An SLO panel's queries select its SLO by Sloth's label: the incidents shaded on it are that SLO's alerts'.
_SLO_LABEL = re.compile(r'sloth_slo="([^"]+)"')
_LEGEND = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@dataclass(frozen=True)
class Frame:
    """The time grid of one page: the window, its step, and the scrape interval Grafana's rules need."""

    window: Window
    scrape: float

    @property
    def step(self) -> float:
        return float(max(math.ceil(self.scrape), math.ceil(self.window.seconds / MAX_POINTS)))

    @property
    def rate_interval(self) -> str:
        return prom_duration(max(4 * math.ceil(self.scrape), self.step + math.ceil(self.scrape)))

    @property
    def range(self) -> str:
        return prom_duration(max(1, round(self.window.seconds)))


@dataclass(frozen=True)
class Series:
    name: str
    labels: dict[str, str]
    points: list[tuple[float, float | None]]  # None: NaN or infinite there (a gap, never a zero)

    def values(self) -> list[float]:
        return [v for _, v in self.points if v is not None]


@dataclass
class Panel:
    """One dashboard panel as the page draws it: what Grafana's JSON says, and the series its queries gave."""

    dashboard: str
    row: str
    type: str
    title: str
    description: str
    unit: str | None
    steps: list[tuple[float | None, str]]  # thresholds: (value, colour), None the base step
    threshold_lines: bool  # the thresholds drawn as lines (the time series' "dashed" style)
    minimum: float | None
    slo: str | None  # the SLO the panel is about (its queries select sloth_slo="..."), for the incidents
    series: list[Series] = field(default_factory=list)
    problem: str = ""  # why it is not rendered; empty when it is

    def has_data(self) -> bool:
        return any(s.values() for s in self.series)


def scrape_interval(prom: Prometheus) -> float:
    """The global scrape interval of the Prometheus the page reads (its config, through the API)."""
    try:
        config = yaml.safe_load(prom.get("/api/v1/status/config")["yaml"]) or {}
    except PrometheusError:
        return DEFAULT_SCRAPE
    text = str((config.get("global") or {}).get("scrape_interval", "1m"))
    return parse_duration(text)


def legend(fmt: str, labels: dict[str, str]) -> str:
    """Grafana's legend format: {{label}} from the series' labels; empty or __auto: the labels themselves."""
    if fmt and fmt != "__auto":
        return _LEGEND.sub(lambda m: labels.get(m[1], ""), fmt).strip()
    shown = {k: v for k, v in labels.items() if k != "__name__"}
    return ", ".join(f"{k}={v}" for k, v in sorted(shown.items())) or "value"


def _number(text: str) -> float | None:
    value = float(text)
    return None if math.isnan(value) or math.isinf(value) else value


def _bucket(labels: dict[str, str]) -> float | None:
    """A bucket's upper bound from its `le` label; None when it has none that reads as a number."""
    try:
        bound = float(labels["le"].replace("+Inf", "inf"))
    except (KeyError, ValueError):
        return None
    return None if math.isnan(bound) else bound


def run_target(prom: Prometheus, target: dict[str, Any], expr: str, frame: Frame) -> list[Series]:
    """A target's series: a range query over the window, or an instant one at its end when the target asks."""
    fmt = str(target.get("legendFormat", ""))
    if target.get("instant"):
        found = prom.query(expr, frame.window.end)
        return [
            Series(legend(fmt, r["metric"]), r["metric"], [(frame.window.end, _number(r["value"][1]))]) for r in found
        ]
    result = prom.query_range(expr, frame.window.start, frame.window.end, frame.step)
    return [
        Series(legend(fmt, r["metric"]), r["metric"], [(float(t), _number(v)) for t, v in r["values"]]) for r in result
    ]


def _panel(dashboard: dict[str, Any], raw: dict[str, Any], row: str) -> Panel:
    defaults = raw.get("fieldConfig", {}).get("defaults", {})
    unit = defaults.get("unit") or raw.get("options", {}).get("yAxis", {}).get("unit")
    steps = [(s.get("value"), s.get("color", "green")) for s in defaults.get("thresholds", {}).get("steps", [])]
    style = defaults.get("custom", {}).get("thresholdsStyle", {}).get("mode", "off")
    exprs = " ".join(str(t.get("expr", "")) for t in raw.get("targets", []))
    slo = _SLO_LABEL.search(exprs)
    return Panel(
        dashboard=dashboard["title"],
        row=row,
        type=raw.get("type", "?"),
        title=raw.get("title", ""),
        description=raw.get("description", ""),
        unit=unit,
        steps=steps,
        threshold_lines=style not in ("off", ""),
        minimum=defaults.get("min"),
        slo=slo[1] if slo else None,
    )


def fetch_dashboard(prom: Prometheus, dashboard: dict[str, Any], frame: Frame, drawn: frozenset[str]) -> list[Panel]:
    """Every panel of one dashboard, in its order (rows included, as type "row"), with its series.

    A panel of a type not in `drawn`, or whose query Prometheus refuses, keeps its reason in `problem`.
    """
    variables = [v["name"] for v in dashboard.get("templating", {}).get("list", [])]
    panels: list[Panel] = []
    row = ""
    for raw in dashboard.get("panels", []):
        panel = _panel(dashboard, raw, row)
        if panel.type == "row":
            row = panel.title
            panel.row = row
            panels.append(panel)
            continue
        panels.append(panel)
        if panel.type not in drawn:
            panel.problem = f"no renderer for Grafana panel type {panel.type!r}"
            continue
        for target in raw.get("targets", []):
            expr = substitute(str(target.get("expr", "")), variables, frame.rate_interval, frame.range)
            try:
                panel.series += run_target(prom, target, expr, frame)
            except PrometheusError as exc:  # the query does not parse or cannot run: say so on the page
                panel.problem = f"Prometheus refused the query {expr!r}: {exc}"
                break
    return panels


def bucket_order(series: list[Series]) -> list[Series]:
    """Histogram bucket series (label `le`) in bucket order, de-cumulated: each counts only its own bucket,
    as Grafana's "heatmap" query format shows them."""
    keyed = [(bound, s) for s in series if (bound := _bucket(s.labels)) is not None]
    ordered = [s for _, s in sorted(keyed, key=lambda pair: pair[0])]
    result = []
    below: dict[float, float] = {}
    for s in ordered:
        points = []
        for t, v in s.points:
            own = None if v is None else max(0.0, v - below.get(t, 0.0))
            points.append((t, own))
            if v is not None:
                below[t] = v
        result.append(Series(s.labels["le"], s.labels, points))
    return result
