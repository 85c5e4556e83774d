"""The page's renderers from given series: axes and units, thresholds, shading, gaps, no data; and the units."""

from __future__ import annotations

import json
import re

import pytest

from generators.grafana.render import render as render_dashboards
from generators.paths import SPEC
from stack.page import panels, units
from stack.page.fetch import Frame, Panel, Series, bucket_order
from stack.page.panels import RENDERERS, Shade, segments
from stack.spans import Window

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z
FRAME = Frame(Window(T0, T0 + 60), scrape=1.0)


def panel(kind: str = "timeseries", series: list[Series] | None = None, **fields: object) -> Panel:
    base: dict[str, object] = {
        "dashboard": "d",
        "row": "",
        "type": kind,
        "title": "A <panel>",
        "description": "what it answers",
        "unit": "s",
        "steps": [],
        "threshold_lines": False,
        "minimum": None,
        "slo": None,
    }
    base.update(fields)
    made = Panel(**base)  # type: ignore[arg-type]
    made.series = series or []
    return made


def line(name: str, values: list[float | None], labels: dict[str, str] | None = None) -> Series:
    return Series(name, labels or {}, [(T0 + i, v) for i, v in enumerate(values)])


def data_group(svg: str) -> str:
    found = re.search(r'<g class="data">(.*?)</g>', svg, re.S)
    assert found, svg
    return found[1]


def test_a_time_series_draws_its_lines_with_axes_in_its_unit() -> None:
    svg = panels.timeseries(panel(series=[line("p99", [0.01, 0.02, 0.05, 0.04])]), FRAME, [])
    assert 'aria-label="A &lt;panel&gt;"' in svg  # the title escaped
    assert 'data-points="4"' in svg
    points = re.findall(r'points="([^"]+)"', data_group(svg))
    assert len(points) == 1 and len(points[0].split()) == 4
    assert "ms</text>" in svg and ">08:00:00<" in svg and ">UTC<" in svg
    assert "p99 <span>mean 30 ms, last 40 ms</span>" in svg  # the legend


def test_a_gap_is_drawn_as_a_gap_and_a_lone_point_as_a_dot() -> None:
    svg = panels.timeseries(panel(series=[line("x", [1.0, 2.0, None, 3.0, None, 4.0, 5.0])]), FRAME, [])
    group = data_group(svg)
    assert group.count("<polyline") == 2 and group.count("<circle") == 1
    # a missing step (no sample at all) splits a line too
    assert [len(s) for s in segments([(0, 1.0), (1, 1.0), (5, 1.0)], 1.0)] == [2, 1]


def test_thresholds_are_dashed_lines_at_their_values_when_the_panel_draws_them() -> None:
    steps: list[tuple[float | None, str]] = [(None, "transparent"), (14.4, "red"), (6, "red"), (1, "orange")]
    burn = line("5m", [0.0, 2.0, 20.0])
    drawn = panels.timeseries(panel(series=[burn], unit="x", steps=steps, threshold_lines=True), FRAME, [])
    values = sorted(float(v) for v in re.findall(r'class="threshold" [^>]*data-value="([^"]+)"', drawn))
    assert values == [1.0, 6.0, 14.4]
    assert ">14.4x</text>" in drawn and 'stroke="#e02f44"' in drawn
    hidden = panels.timeseries(panel(series=[burn], unit="x", steps=steps, threshold_lines=False), FRAME, [])
    assert 'class="threshold"' not in hidden


def test_a_threshold_above_the_data_is_still_on_the_axis() -> None:
    steps: list[tuple[float | None, str]] = [(None, "transparent"), (14.4, "red")]
    low = panel(series=[line("5m", [0.1, 0.2])], unit="x", steps=steps, threshold_lines=True)
    svg = panels.timeseries(low, FRAME, [])
    y = float(re.search(r'data-value="14.4" [^>]*y1="([\d.]+)"', svg)[1])  # type: ignore[index]
    assert panels.TOP <= y <= panels.HEIGHT - panels.BOTTOM


def test_incidents_and_no_data_are_shaded_within_the_window() -> None:
    shades = [
        Shade(T0 + 10, T0 + 20, "incident", "page alert", "page"),
        Shade(T0 - 30, T0 + 5, "nodata", "no data"),
        Shade(T0 + 100, T0 + 200, "incident", "after the window"),
    ]
    svg = panels.timeseries(panel(series=[line("SLI", [0.99, 1.0])]), FRAME, shades)
    incident = re.search(r'<rect class="incident page" data-start="([\d.]+)" data-end="([\d.]+)" x="([\d.]+)"', svg)
    assert incident and float(incident[1]) == T0 + 10 and float(incident[2]) == T0 + 20
    assert float(incident[3]) > panels.LEFT  # starts inside the plot, 10 s in
    nodata = re.search(r'<rect class="nodata " [^>]*x="([\d.]+)"', svg)
    assert nodata and float(nodata[1]) == panels.LEFT  # clipped to the window's start
    assert svg.count('class="incident') == 1  # the one after the window is not drawn


def test_a_stat_shows_the_last_value_on_its_threshold_colour_with_a_sparkline() -> None:
    steps: list[tuple[float | None, str]] = [(None, "red"), (0.999, "green")]
    sli = line("SLI", [1.0, 0.9995, 0.998, None])
    svg = panels.stat(panel("stat", [sli], unit="percentunit", steps=steps), FRAME, [])
    assert ">99.8%</text>" in svg  # Grafana's lastNotNull
    assert 'class="stat-bg"' in svg and 'fill="#e02f44"' in svg  # under the objective: red
    assert len(re.findall(r'points="([^"]+)"', data_group(svg))[0].split()) == 3
    good = panels.stat(panel("stat", [line("SLI", [0.9995])], unit="percentunit", steps=steps), FRAME, [])
    assert 'fill="#56a64b"' in good


def cumulative(values_by_le: dict[str, list[float]]) -> list[Series]:
    return [line(le, list(values), {"le": le}) for le, values in values_by_le.items()]


def test_buckets_are_de_cumulated_in_bucket_order() -> None:
    series = cumulative({"+Inf": [10.0, 20.0], "0.1": [4.0, 5.0], "0.05": [1.0, 5.0]})
    ordered = bucket_order(series)
    assert [s.name for s in ordered] == ["0.05", "0.1", "+Inf"]
    assert [[v for _, v in s.points] for s in ordered] == [[1.0, 5.0], [3.0, 0.0], [6.0, 15.0]]


def test_a_heatmap_draws_a_cell_per_bucket_and_time_with_requests() -> None:
    series = cumulative({"0.05": [1.0, 5.0], "0.1": [4.0, 5.0], "+Inf": [10.0, 20.0]})
    svg = panels.heatmap(panel("heatmap", series, unit="s"), FRAME, [])
    assert data_group(svg).count("<rect") == 5  # six cells, one of them empty
    assert "≤ +Inf: 15/s" in svg and "≤ 50 ms</text>" in svg


def test_a_bar_gauge_draws_a_bar_per_bucket() -> None:
    instant = [Series(le, {"le": le}, [(T0 + 60, v)]) for le, v in (("20", 3.0), ("40", 10.0), ("+Inf", 12.0))]
    svg = panels.bargauge(panel("bargauge", instant, unit="none"), FRAME, [])
    heights = [float(h) for h in re.findall(r'height="([\d.]+)" fill', data_group(svg))]
    assert len(heights) == 3 and heights[1] == max(heights) and heights[2] < heights[0]  # 3, 7, 2


def test_every_panel_type_of_the_generated_dashboards_has_a_renderer() -> None:
    used = {p["type"] for text in render_dashboards(SPEC).values() for p in json.loads(text)["panels"]} - {"row"}
    assert used and used <= set(RENDERERS), used - set(RENDERERS)


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (0.0123, "s", "12.3 ms"),
        (2.5, "s", "2.5 s"),
        (0.999, "percentunit", "99.9%"),
        (1.0, "percentunit", "100%"),
        (0.99995, "percentunit", "99.995%"),
        (-37.279987, "percentunit", "-3728%"),
        (12.34, "reqps", "12.3 req/s"),
        (13270.42, "currencyUSD", "$13,270"),
        (3 * 2**20, "bytes", "3 MiB"),
        (14.4, "x", "14.4x"),
        (1500.0, "short", "1.5k"),
        (39.207, "none", "39.2"),
        (None, "s", "-"),
        (float("nan"), "s", "-"),
        (float("inf"), "s", "∞"),
    ],
)
def test_units_print_as_grafana_names_them(value: float | None, unit: str, text: str) -> None:
    assert units.fmt(value, unit) == text


def test_ticks_are_round_and_cover_the_range() -> None:
    assert units.nice_ticks(0, 1) == [0, 0.25, 0.5, 0.75, 1.0]
    assert units.nice_ticks(0.981, 1.0) == [0.985, 0.99, 0.995, 1.0]
    assert units.nice_ticks(5, 5) == [5]


def test_label_values_cannot_inject_markup() -> None:
    hostile = '<script>alert("x")</script>'
    shown = [line(hostile, [1.0, 2.0]), Series(hostile, {"le": hostile}, [(T0, 1.0)])]
    for kind in RENDERERS:
        svg = RENDERERS[kind](panel(kind, shown, title=hostile), FRAME, [Shade(T0, T0 + 1, "incident", hostile)])
        assert "<script" not in svg and "&lt;script&gt;" in svg, kind
