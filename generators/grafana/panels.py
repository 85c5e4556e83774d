"""Small builders over grafana-foundation-sdk: the few panel shapes the dashboards use.

Every panel gets a description, a unit and the dashboard's datasource variable, so no dashboard
can forget one; the live test reads every query back out of the generated JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from grafana_foundation_sdk.builders import bargauge, heatmap, stat, timeseries
from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models.heatmap import HeatmapColorMode
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from slo.spec import Spec

#: The provisioned Prometheus datasource's uid (grafana/provisioning/datasources/).
DATASOURCE_UID = "prometheus"
DATASOURCE = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")

#: Rate window: Grafana derives it from the scrape interval and the zoom level.
RATE = "$__rate_interval"

P = TypeVar("P", bound="Builder[Any]")
Query = tuple[str, str]  # (PromQL, legend)
Step = tuple[float | None, str]  # (threshold value, colour); None is the base step


def _target(expr: str, legend: str, ref: str) -> prom.Dataquery:
    return prom.Dataquery().expr(expr).legend_format(legend or "__auto").ref_id(ref).datasource(DATASOURCE)


def _with_targets(panel: P, queries: list[Query]) -> P:
    for i, (expr, legend) in enumerate(queries):
        panel = panel.with_target(_target(expr, legend, chr(ord("A") + i)).range())  # type: ignore[attr-defined]
    return panel


def _titled(panel: P, title: str, description: str, width: int, height: int) -> P:
    """What every panel has: a title, a description saying what it answers, the datasource variable, a size."""
    return panel.title(title).description(description).datasource(DATASOURCE).span(width).height(height)  # type: ignore[attr-defined]


def dashboard(title: str, uid: str, description: str, tags: list[str], since: str, refresh: str) -> db.Dashboard:
    """A dashboard with its datasource variable: every panel's queries go through it."""
    return (
        db.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(tags)
        .time(since, "now")
        .refresh(refresh)
        .with_variable(datasource_variable())
    )


def thresholds(*steps: Step) -> db.ThresholdsConfig:
    return (
        db.ThresholdsConfig()
        .mode(dm.ThresholdsMode.ABSOLUTE)
        .steps([dm.Threshold(value=value, color=color) for value, color in steps])
    )


def timeseries_panel(
    title: str,
    description: str,
    queries: list[Query],
    unit: str,
    *,
    width: int = 12,
    lines: Sequence[Step] | None = None,
    minimum: float | None = None,
) -> timeseries.Panel:
    """A time series; `lines` are drawn as dashed thresholds (alert burn rates, objectives)."""
    panel = (
        _titled(timeseries.Panel(), title, description, width, 8)
        .unit(unit)
        .legend(
            cb.VizLegendOptions()
            .show_legend(True)
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
        )
    )
    if minimum is not None:
        panel = panel.min(minimum)
    if lines:
        panel = panel.thresholds(thresholds((None, "transparent"), *lines)).thresholds_style(
            cb.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.DASHED)
        )
    return _with_targets(panel, queries)


def stat_panel(
    title: str,
    description: str,
    queries: list[Query],
    unit: str,
    *,
    width: int = 6,
    steps: tuple[Step, ...] = ((None, "green"),),
    decimals: float | None = None,
) -> stat.Panel:
    panel = (
        _titled(stat.Panel(), title, description, width, 5)
        .unit(unit)
        .thresholds(thresholds(*steps))
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .graph_mode(common.BigValueGraphMode.AREA)
        .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )
    if decimals is not None:
        panel = panel.decimals(decimals)
    return _with_targets(panel, queries)


def heatmap_panel(title: str, description: str, expr: str, unit: str, *, width: int = 12) -> heatmap.Panel:
    """Bucket rates as a heatmap, with Prometheus exemplars (trace ids) drawn on top."""
    query = _target(expr, "{{le}}", "A").range().exemplar(True).format(PromQueryFormat.HEATMAP)
    return (
        _titled(heatmap.Panel(), title, description, width, 8)
        .calculate(False)
        .y_axis(heatmap.YAxisConfig().unit(unit))
        .color(heatmap.HeatmapColorOptions().mode(HeatmapColorMode.SCHEME).scheme("Oranges").steps(64))
        .exemplars_color("rgba(255,0,255,0.7)")
        .with_target(query)
    )


def distribution_panel(title: str, description: str, expr: str, unit: str, *, width: int = 8) -> bargauge.Panel:
    """A histogram's buckets over the dashboard's time range, as bars: the shape of a distribution."""
    query = _target(expr, "{{le}}", "A").instant().format(PromQueryFormat.HEATMAP)
    return (
        _titled(bargauge.Panel(), title, description, width, 8)
        .unit(unit)
        .orientation(common.VizOrientation.VERTICAL)
        .with_target(query)
    )


def datasource_variable() -> db.DatasourceVariable:
    return (
        db.DatasourceVariable("datasource")
        .label("Data source")
        .type("prometheus")
        .current(dm.VariableOption(text="Prometheus", value=DATASOURCE_UID))
    )


def label_variable(name: str, label: str, metric: str, label_name: str) -> db.QueryVariable:
    """A multi-value variable over a label's values; "All" matches everything (regex .*)."""
    return (
        db.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(f"label_values({metric}, {label_name})")
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(dm.VariableOption(text="All", value="$__all"))
    )


def latency_slo_lines(spec: Spec) -> list[Step]:
    """The spec's latency SLO thresholds (seconds) as dashed lines: the loosest red, stricter ones orange."""
    values = sorted({s.latency_threshold_seconds for s in spec.slos if s.latency_threshold_seconds is not None})
    return [(v, "red" if v == values[-1] else "orange") for v in values]


def in_words(lines: Sequence[Step]) -> str:
    """Thresholds in seconds as a description says them: "100 ms and 500 ms"."""
    said = [f"{round(v * 1000):g} ms" for v, _ in lines if v is not None]
    return " and ".join(filter(None, [", ".join(said[:-1]), *said[-1:]]))


def row(title: str) -> db.Row:
    return db.Row(title)


def quantile(q: float, metric: str, selector: str, by: str = "") -> str:
    """PromQL for the q-quantile of a histogram over the rate window (optionally kept apart `by` labels)."""
    return (
        f"histogram_quantile({q}, sum by (le{', ' + by if by else ''}) (rate({metric}_bucket{{{selector}}}[{RATE}])))"
    )


def mean(metric: str, selector: str) -> str:
    """PromQL for a histogram's mean observation over the rate window."""
    return f"sum(rate({metric}_sum{{{selector}}}[{RATE}])) / sum(rate({metric}_count{{{selector}}}[{RATE}]))"
