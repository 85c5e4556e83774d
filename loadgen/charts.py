"""Small time-series charts as inline SVG (no JavaScript, nothing fetched): lines with gaps, stacked bars.

A missing value (None) is a gap, never a zero: a second with no sample has no point. Ticks are round:
time in s or min (1, 2, 5, 10, 15, 30 s, 1, 2, 5, 10, ... min), values 1-2-5 x 10^k, latency on a log
scale (so a 1 ms median stays readable beside a 10 s max) with its unit on every tick.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

#: (x, y): y None is a gap.
XY = Sequence[tuple[float, float | None]]

WIDTH, HEIGHT = 900, 250
_LEFT, _RIGHT, _TOP, _BOTTOM = 72, 170, 26, 36
#: More bars than this (a long run's seconds) are merged, a bar per several seconds: at 660 px a bar per
#: second of an hour would be thinner than a pixel and the file megabytes.
MAX_BARS = 600
#: More points than this on a line are merged likewise (a point per several seconds).
MAX_POINTS = 1200
_TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


@dataclass
class Line:
    points: XY
    color: str
    width: float = 1.5
    dash: str = ""
    merge: Literal["mean", "max"] = "mean"  # how a long run's points are merged (max: the worst of the span)


@dataclass
class Bars:
    """Stacked bars: spans [(x0, x1)] and, per layer, one value per span (0 or None: nothing drawn)."""

    spans: Sequence[tuple[float, float]]
    layers: Mapping[str, Sequence[float | None]]
    colors: Mapping[str, str]


def binned(bars: Bars, most: int = MAX_BARS) -> Bars:
    """At most `most` bars: consecutive spans merged, each layer's value the time-weighted mean of its
    values (rates stay rates; a missing value counts for neither time nor amount)."""
    n = len(bars.spans)
    if n <= most:
        return bars
    size = -(-n // most)
    groups = [range(i, min(i + size, n)) for i in range(0, n, size)]
    spans = [(bars.spans[g[0]][0], bars.spans[g[-1]][1]) for g in groups]

    def mean(layer: Sequence[float | None], group: range) -> float | None:
        known = [(layer[i], bars.spans[i][1] - bars.spans[i][0]) for i in group if layer[i] is not None]
        time = sum(dt for _, dt in known)
        return sum((v or 0.0) * dt for v, dt in known) / time if time > 0 else None

    layers = {name: [mean(layer, g) for g in groups] for name, layer in bars.layers.items()}
    return Bars(spans, layers, bars.colors)


def thinned(line: Line, most: int = MAX_POINTS) -> Line:
    """At most `most` points: consecutive points merged into one at their mean time, valued by the mean or
    the max of their values (None when they have none: a gap stays a gap)."""
    n = len(line.points)
    if n <= most:
        return line
    size = -(-n // most)
    points: list[tuple[float, float | None]] = []
    for i in range(0, n, size):
        group = line.points[i : i + size]
        known = [y for _, y in group if y is not None]
        value = (max(known) if line.merge == "max" else sum(known) / len(known)) if known else None
        points.append((sum(x for x, _ in group) / len(group), value))
    return Line(points, line.color, line.width, line.dash, line.merge)


@dataclass
class Chart:
    title: str
    unit: str  # of the y axis, e.g. "ms", "requests/s"
    lines: dict[str, Line] = field(default_factory=dict)
    bars: Bars | None = None
    log: bool = False
    whole: bool = False  # counts of things: no tick between two integers


def nice_step(span: float, most: int = 5) -> float:
    """The smallest 1, 2 or 5 x 10^k that cuts `span` into at most `most` steps."""
    if span <= 0:
        return 1.0
    raw = span / most
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 5, 10) if raw <= m * mag * (1 + 1e-9))


def linear_ticks(top: float, *, whole: bool = False) -> list[float]:
    """Ticks from 0 to a round value at or above `top` (steps of at least 1 when `whole`)."""
    step = max(nice_step(top), 1.0) if whole else nice_step(top)
    n = max(1, math.ceil(top / step - 1e-9))
    return [round(step * k, 12) for k in range(n + 1)]


def log_ticks(lo: float, hi: float) -> tuple[float, float, list[float]]:
    """(bottom, top, ticks) of a log axis covering [lo, hi] (> 0): whole decades, ticks 1-2-5 x 10^k
    (only the decades when they are more than three)."""
    bottom = 10 ** math.floor(math.log10(lo) + 1e-9)
    top = 10 ** math.ceil(math.log10(hi) - 1e-9)
    if top <= bottom:
        top = bottom * 10
    decades = round(math.log10(top / bottom))
    steps = (1,) if decades > 3 else (1, 2, 5)
    ticks = [round(m * bottom * 10**k, 12) for k in range(decades + 1) for m in steps]
    return bottom, top, [t for t in ticks if t <= top * (1 + 1e-9)]


def time_ticks(end: float) -> list[float]:
    """At most 8 round ticks from 0 to `end` seconds."""
    step = next((s for s in _TIME_STEPS if end / s <= 8), _TIME_STEPS[-1])
    return [step * k for k in range(int(end // step + 1e-9) + 1)]


def time_label(seconds: float, end: float) -> str:
    """In s for runs up to 3 minutes, in min beyond (h beyond 3 h)."""
    if end > 3 * 3600:
        return f"{seconds / 3600:g} h"
    if end > 180:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def latency_label(ms: float) -> str:
    return f"{ms / 1000:g} s" if ms >= 1000 else f"{ms:g} ms"


def count_label(value: float) -> str:
    return f"{value:,g}" if value < 1e6 else f"{value:.3g}"


def render(chart: Chart, end: float) -> str:
    """The chart as an SVG element; `end` is the time axis' last second."""
    end = end if end > 0 else 1.0
    values = [y for line in chart.lines.values() for _, y in line.points if y is not None]
    if chart.bars is not None:
        values += _stack_tops(binned(chart.bars))
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM

    def px(x: float) -> float:
        return _LEFT + plot_w * min(max(x / end, 0.0), 1.0)

    y_of, y_ticks, label = _y_axis(chart, values, plot_h)
    out = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{html.escape(chart.title)}">',
        f"<title>{html.escape(chart.title)}</title>",
        f'<text x="{_LEFT}" y="{_TOP - 10}" font-size="12" fill="#444">{html.escape(chart.unit)}'
        f"{' (log scale)' if chart.log else ''}</text>",
    ]
    for v in y_ticks:
        y = y_of(v)
        out.append(f'<line x1="{_LEFT}" x2="{_LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{label(v)}</text>')
    for x in time_ticks(end):
        out.append(f'<line x1="{px(x):.1f}" x2="{px(x):.1f}" y1="{_TOP}" y2="{_TOP + plot_h}" stroke="#f0f0f0"/>')
        out.append(
            f'<text x="{px(x):.1f}" y="{_TOP + plot_h + 15}" text-anchor="middle" font-size="11">'
            f"{time_label(x, end)}</text>"
        )
    out.append(
        f'<text x="{_LEFT + plot_w / 2:.0f}" y="{HEIGHT - 4}" text-anchor="middle" font-size="11" fill="#444">'
        "time since the schedule started</text>"
    )
    out.append(f'<rect x="{_LEFT}" y="{_TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#bbb"/>')
    out.append('<g class="data">')
    if chart.bars is not None:
        out += _bars(binned(chart.bars), px, y_of)
    for line in chart.lines.values():
        out += _line(thinned(line), px, y_of)
    out.append("</g>")
    if not values:
        out.append(
            f'<text x="{_LEFT + plot_w / 2:.0f}" y="{_TOP + plot_h / 2:.0f}" text-anchor="middle" '
            'font-size="13" fill="#888">no data</text>'
        )
    for i, (name, color, seen) in enumerate(_legend(chart)):
        y = _TOP + 15 * i + 10
        text = html.escape(name if seen else f"{name}: none")
        out.append(f'<rect x="{WIDTH - _RIGHT + 12}" y="{y - 9}" width="10" height="10" fill="{color}"/>')
        out.append(f'<text x="{WIDTH - _RIGHT + 27}" y="{y}" font-size="11">{text}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _legend(chart: Chart) -> list[tuple[str, str, bool]]:
    """(name, color, has data) of each bar layer and line."""
    keys = [(n, c, any(v for v in chart.bars.layers[n])) for n, c in chart.bars.colors.items()] if chart.bars else []
    return keys + [(n, line.color, any(y is not None for _, y in line.points)) for n, line in chart.lines.items()]


def _stack_tops(bars: Bars) -> list[float]:
    return [sum(layer[i] or 0.0 for layer in bars.layers.values()) for i in range(len(bars.spans))]


def _y_axis(
    chart: Chart, values: Sequence[float], plot_h: float
) -> tuple[Callable[[float], float], list[float], Callable[[float], str]]:
    label = latency_label if chart.unit in ("ms", "s") else count_label
    positive = [v for v in values if v > 0]
    if chart.log:
        bottom, top, ticks = log_ticks(min(positive, default=1.0), max(positive, default=10.0))
        span = math.log10(top / bottom)

        def y_log(v: float) -> float:
            v = min(max(v, bottom), top)
            return _TOP + plot_h * (1 - math.log10(v / bottom) / span)

        return y_log, ticks, label
    ticks = linear_ticks(max(values, default=0.0) or 1.0, whole=chart.whole)
    high = ticks[-1]

    def y_lin(v: float) -> float:
        return _TOP + plot_h * (1 - min(max(v, 0.0), high) / high)

    return y_lin, ticks, label


def _line(line: Line, px: Callable[[float], float], py: Callable[[float], float]) -> list[str]:
    """A polyline per run of consecutive values; a lone value (gaps on both sides) is a dot."""
    out: list[str] = []
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in line.points:
        if y is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((x, y))
    dash = f' stroke-dasharray="{line.dash}"' if line.dash else ""
    for run in runs:
        if len(run) == 1:
            (x, y), r = run[0], max(line.width, 2.5)
            out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="{r:.1f}" fill="{line.color}"/>')
        elif run:
            pts = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in run)
            out.append(
                f'<polyline fill="none" stroke="{line.color}" stroke-width="{line.width}" '
                f'stroke-linejoin="round" stroke-linecap="round"{dash} points="{pts}"/>'
            )
    return out


def _bars(bars: Bars, px: Callable[[float], float], py: Callable[[float], float]) -> list[str]:
    out: list[str] = []
    base = [0.0] * len(bars.spans)
    for name, layer in bars.layers.items():
        for i, ((x0, x1), v) in enumerate(zip(bars.spans, layer, strict=True)):
            if not v:
                continue
            left, right = px(x0), px(x1)
            top, bottom = py(base[i] + v), py(base[i])
            out.append(
                f'<rect x="{left + 0.5:.1f}" y="{top:.1f}" width="{max(right - left - 1, 0.8):.1f}" '
                f'height="{max(bottom - top, 0.5):.1f}" fill="{bars.colors[name]}"/>'
            )
            base[i] += v
    return out
