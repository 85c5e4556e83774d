"""One renderer per Grafana panel type the generated dashboards use: a panel's series -> inline SVG.

Every mark a renderer draws from data sits in the SVG's `g.data` group (lines as polylines, lone points as
circles, cells and bars as rects), so a browser test can count what each panel drew. Thresholds the
dashboard draws as lines (objectives, burn-rate page and ticket factors, training means) are dashed lines
with their value; incidents and "no data" spans are shaded rects (`rect.incident`, `rect.nodata`) behind
the lines. No chart library: the page must open with no network, and these four shapes are short.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from stack.page.fetch import Frame, Panel, Series, bucket_order
from stack.page.units import fmt, nice_ticks

#: Grafana's classic palette, in its order, for series without a colour of their own.
PALETTE = ("#7eb26d", "#eab839", "#6ed0e0", "#ef843c", "#e24d42", "#1f78c1", "#ba43a9", "#705da0", "#508642")
#: Grafana's named colours, as the dashboards' thresholds name them.
COLOURS = {"red": "#e02f44", "orange": "#ff780a", "green": "#56a64b", "blue": "#3274d9", "yellow": "#e0b400"}
WIDTH, HEIGHT = 480, 200
LEFT, RIGHT, TOP, BOTTOM = 62, 40, 8, 22
#: Heatmap columns at most: cells are rects, and a page stays light.
MAX_COLUMNS = 120
_TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


@dataclass(frozen=True)
class Shade:
    """A span of time shaded on a panel: an alert's incident ("incident") or a span without data ("nodata")."""

    start: float
    end: float
    kind: str
    label: str
    severity: str = ""


def colour(name: str) -> str:
    return COLOURS.get(name, name)


def _svg(panel: Panel, body: list[str], points: int, width: int = WIDTH, height: int = HEIGHT) -> str:
    label = escape(panel.title, quote=True)
    return (
        f'<svg class="chart" role="img" aria-label="{label}" data-points="{points}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
        + "".join(body)
        + "</svg>"
    )


@dataclass(frozen=True)
class Plot:
    """Data -> pixels for one time-series plot."""

    start: float
    end: float
    low: float
    high: float

    def x(self, t: float) -> float:
        return LEFT + (t - self.start) / (self.end - self.start) * (WIDTH - LEFT - RIGHT)

    def y(self, v: float) -> float:
        return TOP + (self.high - v) / (self.high - self.low) * (HEIGHT - TOP - BOTTOM)


def value_range(values: list[float], minimum: float | None) -> tuple[float, float]:
    """The y axis: the data (and the drawn thresholds) with 5% room, from the panel's minimum when it sets one."""
    low, high = min(values), max(values)
    if minimum is not None:
        low = min(minimum, low)
    if high == low:
        pad = abs(high) * 0.1 or 1.0
        return (low if minimum is not None else low - pad), high + pad
    pad = (high - low) * 0.05
    return (low if minimum is not None else low - pad), high + pad


def _time_label(t: float, step: float, span: float) -> str:
    moment = datetime.fromtimestamp(t, UTC)
    if span > 2 * 86400:
        return moment.strftime("%m-%d %H:%M")
    return moment.strftime("%H:%M:%S" if step < 60 else "%H:%M")


def value_axis(plot: Plot, unit: str | None) -> list[str]:
    """Grid lines and value ticks in the panel's unit, on the left."""
    out = []
    for tick in nice_ticks(plot.low, plot.high):
        y = plot.y(tick)
        label = escape(fmt(tick, unit))
        out.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text class="tick" x="{LEFT - 4}" y="{y + 3:.1f}" text-anchor="end">{label}</text>')
    return out


def time_axis(plot: Plot) -> list[str]:
    """Grid lines and UTC times below, at round steps (about five over the window)."""
    out = []
    span = plot.end - plot.start
    step = next((s for s in _TIME_STEPS if span / s <= 5), math.ceil(span / 5 / 86400) * 86400)
    t = math.ceil(plot.start / step) * step
    while t <= plot.end:
        x = plot.x(t)
        label = _time_label(t, step, span)
        out.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{HEIGHT - BOTTOM}"/>')
        out.append(f'<text class="tick" x="{x:.1f}" y="{HEIGHT - 6}" text-anchor="middle">{label}</text>')
        t += step
    out.append(f'<text class="tick" x="{WIDTH - RIGHT + 2}" y="{HEIGHT - 6}">UTC</text>')
    return out


def segments(points: list[tuple[float, float | None]], step: float) -> list[list[tuple[float, float]]]:
    """A series' points split where it has no value or skips a step: a gap is drawn as a gap, never bridged."""
    out: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] = []
    for t, v in points:
        if v is None or (current and t - current[-1][0] > step * 1.5):
            if current:
                out.append(current)
            current = []
        if v is not None:
            current.append((t, v))
    if current:
        out.append(current)
    return out


def _shades(plot: Plot, shades: list[Shade]) -> list[str]:
    out = []
    for s in shades:
        start, end = max(s.start, plot.start), min(s.end, plot.end)
        if end <= start:
            continue
        x0, x1 = plot.x(start), plot.x(end)
        out.append(
            f'<rect class="{s.kind} {escape(s.severity)}" data-start="{s.start:.3f}" data-end="{s.end:.3f}" '
            f'x="{x0:.1f}" y="{TOP}" width="{max(x1 - x0, 1):.1f}" height="{HEIGHT - TOP - BOTTOM}">'
            f"<title>{escape(s.label)}</title></rect>"
        )
    return out


def _lines(panel: Panel) -> list[tuple[float, str]]:
    return [(v, c) for v, c in panel.steps if v is not None and c != "transparent"] if panel.threshold_lines else []


def timeseries(panel: Panel, frame: Frame, shades: list[Shade]) -> str:
    """Lines over the window; the thresholds as dashed lines; incidents and no-data spans shaded behind."""
    lines = _lines(panel)
    values = [v for s in panel.series for v in s.values()] + [v for v, _ in lines]
    window = frame.window
    plot = Plot(window.start, window.end, *value_range(values, panel.minimum))
    body = [*_shades(plot, shades), *value_axis(plot, panel.unit), *time_axis(plot)]
    labelled: list[float] = []
    for value, name in sorted(lines, reverse=True):  # the highest (the page's) labelled first
        y = plot.y(value)
        body.append(
            f'<line class="threshold" stroke="{colour(name)}" data-value="{value}" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
            f'y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        if all(abs(y - other) >= 9 for other in labelled):  # lines closer than a label's height share one
            labelled.append(y)
            text = escape(fmt(value, panel.unit))
            body.append(
                f'<text class="threshold-label" fill="{colour(name)}" x="{WIDTH - RIGHT + 2}" y="{y + 3:.1f}">'
                f"{text}</text>"
            )
    data, drawn = [], 0
    for i, series in enumerate(panel.series):
        stroke = PALETTE[i % len(PALETTE)]
        for seg in segments(series.points, frame.step):
            drawn += len(seg)
            if len(seg) == 1:
                t, v = seg[0]
                data.append(f'<circle cx="{plot.x(t):.1f}" cy="{plot.y(v):.1f}" r="2" fill="{stroke}"/>')
                continue
            pts = " ".join(f"{plot.x(t):.1f},{plot.y(v):.1f}" for t, v in seg)
            data.append(
                f'<polyline fill="none" stroke="{stroke}" points="{pts}">'
                f"<title>{escape(series.name)}</title></polyline>"
            )
    body.append(f'<g class="data">{"".join(data)}</g>')
    return _svg(panel, body, drawn) + legend(panel)


def legend(panel: Panel) -> str:
    """Each series' colour, name, mean and last value (as Grafana's table legend would say them)."""
    items = []
    for i, series in enumerate(panel.series):
        values = series.values()
        if not values:
            continue
        mean = sum(values) / len(values)
        items.append(
            f'<li><i style="background:{PALETTE[i % len(PALETTE)]}"></i>{escape(series.name)} '
            f"<span>mean {escape(fmt(mean, panel.unit))}, last {escape(fmt(values[-1], panel.unit))}</span></li>"
        )
    return f'<ul class="legend">{"".join(items)}</ul>'


def step_colour(panel: Panel, value: float) -> str:
    """The colour of the highest threshold step at or under `value` (the base step under all of them)."""
    chosen = "green"
    for step, name in panel.steps:
        if step is None or value >= step:
            chosen = name
    return colour(chosen)


def stat(panel: Panel, frame: Frame, shades: list[Shade]) -> str:
    """Each series' last value (Grafana's lastNotNull) on its threshold colour, with its sparkline."""
    shown = [s for s in panel.series if s.values()][:4]
    width, height = 230, 96
    cell = width / max(len(shown), 1)
    body, data, drawn = [], [], 0
    for i, series in enumerate(shown):
        values = series.values()
        x0 = i * cell
        body.append(
            f'<rect class="stat-bg" x="{x0:.1f}" y="0" width="{cell - 2:.1f}" height="{height}" '
            f'fill="{step_colour(panel, values[-1])}"/>'
        )
        text = escape(fmt(values[-1], panel.unit))
        body.append(f'<text class="stat-value" x="{x0 + cell / 2:.1f}" y="44" text-anchor="middle">{text}</text>')
        if len(shown) > 1 or series.name not in ("", "value"):
            body.append(
                f'<text class="stat-name" x="{x0 + cell / 2:.1f}" y="62" text-anchor="middle">'
                f"{escape(series.name)}</text>"
            )
        low, high = min(values), max(values)
        span_v = (high - low) or 1.0
        pts = [
            (x0 + (t - frame.window.start) / frame.window.seconds * (cell - 2), height - 4 - (v - low) / span_v * 24)
            for t, v in series.points
            if v is not None
        ]
        drawn += len(pts)
        data.append(f'<polyline class="spark" fill="none" points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in pts)}"/>')
    body.append(f'<g class="data">{"".join(data)}</g>')
    return _svg(panel, body, drawn, width, height)


def oranges(share: float) -> str:
    """Grafana's "Oranges" scheme, from pale (0) to dark (1)."""
    low, high = (255, 245, 235), (127, 39, 4)
    r, g, b = (round(a + (z - a) * share) for a, z in zip(low, high, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def heatmap(panel: Panel, frame: Frame, shades: list[Shade]) -> str:
    """Bucket rates over time (de-cumulated, one row per bucket), darker where more requests fell."""
    buckets = bucket_order(panel.series)
    times = sorted({t for s in buckets for t, v in s.points if v is not None})
    every = max(1, math.ceil(len(times) / MAX_COLUMNS))
    columns = times[::every]
    top = max((v for s in buckets for v in s.values()), default=0.0) or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    row_h = plot_h / max(len(buckets), 1)
    col_w = plot_w / max(len(columns), 1)
    window = frame.window
    body, cells = [], []
    for r, series in enumerate(buckets):
        y = TOP + plot_h - (r + 1) * row_h
        if r % max(1, len(buckets) // 6) == 0:
            body.append(
                f'<text class="tick" x="{LEFT - 4}" y="{y + row_h / 2 + 3:.1f}" text-anchor="end">'
                f"≤ {escape(fmt(float(series.name.replace('+Inf', 'inf')), panel.unit))}</text>"
            )
        values = dict(series.points)
        for t in columns:
            v = values.get(t)
            if not v:
                continue
            x = LEFT + (t - window.start) / window.seconds * plot_w
            cells.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{col_w + 0.5:.1f}" height="{row_h + 0.5:.1f}" '
                f'fill="{oranges(v / top)}"><title>≤ {escape(series.name)}: {v:.3g}/s</title></rect>'
            )
    plot = Plot(window.start, window.end, 0.0, 1.0)
    body += time_axis(plot)
    body.append(f'<g class="data">{"".join(cells)}</g>')
    return _svg(panel, body, len(cells))


def bargauge(panel: Panel, frame: Frame, shades: list[Shade]) -> str:
    """A histogram's buckets over the window as vertical bars (de-cumulated): the shape of a distribution."""
    buckets = [s for s in bucket_order(panel.series) if s.values()]
    if not buckets:
        buckets = [s for s in panel.series if s.values()]
    top = max(v for s in buckets for v in s.values()) or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM - 10
    bar_w = plot_w / len(buckets)
    body, bars = [], []
    for i, series in enumerate(buckets):
        v = series.values()[-1]
        h = v / top * plot_h
        x = LEFT + i * bar_w
        bars.append(
            f'<rect x="{x + 1:.1f}" y="{TOP + plot_h - h:.1f}" width="{max(bar_w - 2, 1):.1f}" height="{h:.1f}" '
            f'fill="{PALETTE[5]}"><title>≤ {escape(series.name)}: {escape(fmt(v, panel.unit))}</title></rect>'
        )
        if i % max(1, len(buckets) // 8) == 0:
            body.append(
                f'<text class="tick" x="{x + bar_w / 2:.1f}" y="{HEIGHT - 14}" text-anchor="middle">'
                f"≤{escape(series.name)}</text>"
            )
    body.append(
        f'<text class="tick" x="{LEFT - 4}" y="{TOP + 8}" text-anchor="end">{escape(fmt(top, panel.unit))}</text>'
    )
    body.append(f'<g class="data">{"".join(bars)}</g>')
    return _svg(panel, body, len(bars))


Renderer = Callable[[Panel, Frame, list[Shade]], str]
#: Panel type -> its renderer: every type the generated dashboards use (a test checks none is missing).
RENDERERS: dict[str, Renderer] = {"timeseries": timeseries, "stat": stat, "heatmap": heatmap, "bargauge": bargauge}


__all__ = ["RENDERERS", "Series", "Shade"]
