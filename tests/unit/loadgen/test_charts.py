"""The report's SVG charts: gaps stay gaps, round ticks with units, a log axis for latency."""

from __future__ import annotations

import re

import pytest

from loadgen import charts


def test_round_ticks() -> None:
    assert charts.nice_step(0) == 1.0 and charts.nice_step(7) == pytest.approx(2) and charts.nice_step(230) == 50
    assert charts.linear_ticks(37) == [0, 10, 20, 30, 40] and charts.linear_ticks(0.3) == pytest.approx(
        [0, 0.1, 0.2, 0.3]
    )
    assert charts.linear_ticks(1, whole=True) == [0, 1]  # counts: no 0.2 request
    assert charts.log_ticks(0.4, 80) == (0.1, 100, [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100])
    assert charts.log_ticks(0.05, 10_000) == (0.01, 10_000, [0.01, 0.1, 1, 10, 100, 1000, 10_000])  # decades only
    assert charts.log_ticks(3, 3) == (1, 10, [1, 2, 5, 10])
    assert charts.time_ticks(15) == [0, 2, 4, 6, 8, 10, 12, 14] and charts.time_ticks(270)[:3] == [0, 60, 120]
    assert charts.time_ticks(3600)[1] == 600 and len(charts.time_ticks(86400)) <= 9


def test_labels_carry_units() -> None:
    assert [charts.time_label(t, 60) for t in (0, 30)] == ["0 s", "30 s"]
    assert [charts.time_label(t, 600) for t in (90, 120)] == ["1.5 min", "2 min"]
    assert charts.time_label(7200, 86400) == "2 h"
    assert [charts.latency_label(v) for v in (0.5, 20, 1000, 10_000)] == ["0.5 ms", "20 ms", "1 s", "10 s"]
    assert charts.count_label(12_000) == "12,000"


def test_a_gap_breaks_the_line_and_a_lone_value_is_a_dot() -> None:
    points = [(0.5, 1.0), (1.5, 2.0), (2.5, None), (3.5, 4.0), (4.5, None), (5.5, 3.0), (6.5, 3.5)]
    chart = charts.Chart("latency", "ms", log=True, lines={"p50": charts.Line(points, "#000")})
    svg = charts.render(chart, 7.0)
    data = svg[svg.index('<g class="data">') :]
    assert data.count("<polyline") == 2 and data.count("<circle") == 1
    assert ">0 ms<" not in svg and ">1 ms<" in svg and ">5 ms<" in svg and "(log scale)" in svg
    polylines = re.findall(r'points="([^"]+)"', data)
    assert [len(p.split()) for p in polylines] == [2, 2]


def test_stacked_bars_and_an_empty_chart() -> None:
    bars = charts.Bars([(0, 1), (1, 2)], {"200": [3.0, 0.0], "503": [1.0, None]}, {"200": "#0f0", "503": "#f00"})
    svg = charts.render(charts.Chart("o", "requests/s", bars=bars), 2.0)
    data = svg[svg.index('<g class="data">') : svg.index("</g>")]
    assert data.count("<rect") == 2  # two non-zero bars; the zero and the missing one draw nothing
    empty = charts.render(charts.Chart("nothing", "ms", log=True, lines={"p50": charts.Line([(1, None)], "#000")}), 0)
    assert "no data" in empty and "p50: none" in empty and "<polyline" not in empty
    assert "dropped: none" in charts.render(
        charts.Chart("d", "requests", bars=charts.Bars([(0, 1)], {"dropped": [0]}, {"dropped": "#f00"})), 1
    )


def test_a_long_run_has_at_most_max_bars_and_keeps_its_rates() -> None:
    n = 3600
    spans = [(float(k), float(k + 1)) for k in range(n)]
    bars = charts.Bars(spans, {"200": [10.0] * (n - 1) + [None], "503": [0.0] * 1800 + [2.0] * 1800},
                       {"200": "#0f0", "503": "#f00"})  # fmt: skip
    merged = charts.binned(bars)
    assert len(merged.spans) == 600 and merged.spans[0] == (0.0, 6.0) and merged.spans[-1] == (3594.0, 3600.0)
    assert set(merged.layers["200"]) == {10.0} and merged.layers["503"][0] == 0 and merged.layers["503"][-1] == 2.0
    svg = charts.render(charts.Chart("o", "requests/s", bars=bars), 3600)
    assert svg.count("<rect") < 2 * 600 + 10 and ">1 h<" not in svg and ">60 min<" in svg
    assert charts.binned(bars, most=4000) is bars


def test_a_long_line_is_thinned_and_its_gaps_stay() -> None:
    points = [(k + 0.5, None if 1000 <= k < 1400 else float(k % 7)) for k in range(3600)]
    worst = charts.thinned(charts.Line(points, "#000", merge="max"))
    assert len(worst.points) == 1200 and worst.points[0] == (1.5, 2.0)
    assert {y for _, y in worst.points[334:466]} == {None} and worst.points[333][1] is not None
    mean = charts.thinned(charts.Line(points, "#000"))
    assert mean.points[0] == (1.5, 1.0)
