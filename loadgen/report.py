"""A run's results: the summary, the terminal table, JSON, CSV and a self-contained HTML report.

The HTML report draws its plots as inline SVG: one file, no JavaScript, no CDN, opens anywhere.
"""

from __future__ import annotations

import csv
import html
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

from hdrh.histogram import HdrHistogram
from rich.table import Table

from loadgen.recorder import ERROR_KINDS, Point, Recorder, is_error, percentiles
from loadgen.thresholds import SECOND_PERCENTILES, Threshold

PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9)
#: Percentiles shown for the failed requests' latency, beside the successful ones'.
FAILED_PERCENTILES = (50.0, 99.0)


class Counts(Protocol):
    """A run's schedule counters: an Engine's, or the sum of the worker processes' (workers.Totals)."""

    @property
    def scheduled(self) -> int: ...
    @property
    def sent(self) -> int: ...
    @property
    def dropped(self) -> int: ...
    @property
    def window(self) -> float: ...


def is_failure(outcome: str) -> bool:
    """Locust's and k6's (`http_req_failed`) failure: a transport error or any status >= 400, 4xx included."""
    return not outcome[0].isdigit() or int(outcome) >= 400


@dataclass
class Summary:
    target: str
    scenario: str
    started_at: str
    duration_s: float
    scheduled: int
    sent: int
    dropped: int
    completed: int
    errors: int
    error_rate: float
    dropped_rate: float
    rps: float
    target_rps: float
    latency_ms: dict[str, float]
    lag_ms: dict[str, float]
    outcomes: dict[str, int]
    routes: dict[str, dict[str, int]]
    thresholds: list[dict[str, Any]] = field(default_factory=list)
    # What the verdict reads beside the above: latency_ms is of the requests that did not fail (answers
    # below 500), the failed ones' latency is here; failures in Locust's sense; per-second aggregates.
    interrupted: bool = False
    workers: int = 1
    failed: int = 0
    failed_rate: float = 0.0
    failed_latency_ms: dict[str, float] = field(default_factory=dict)
    rps_max: float = 0.0
    rps_min: float = 0.0
    worst_second_ms: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(t["ok"] for t in self.thresholds)


def _latency(h: HdrHistogram, ps: Sequence[float]) -> dict[str, float]:
    """min, avg, the percentiles and max of a histogram, in ms (all 0 when it is empty)."""
    out = {"min": h.get_min_value() / 1000 if h.total_count else 0.0, "avg": h.get_mean_value() / 1000}
    out |= {f"p{p:g}": v / 1000 for p, v in zip(ps, percentiles(h, ps), strict=True)}
    out["max"] = h.get_max_value() / 1000
    return out


def whole_seconds(series: Sequence[Point], window: float) -> list[Point]:
    """The points that close a whole second of the schedule: not the first partial one of a sub-second run,
    nor the closing one of an interrupted run, nor the drain after the schedule ended."""
    out, previous = [], 0.0
    for p in series:
        if p.t - previous >= 0.5 and p.t <= window + 0.5:
            out.append(p)
        previous = p.t
    return out


def _per_second(series: Sequence[Point], window: float, rps: float) -> tuple[float, float, dict[str, float]]:
    """(busiest second's finished count, quietest's, worst second's p50/p90/p99 of its successful requests)."""
    whole = whole_seconds(series, window)
    rates = [float(p.completed) for p in whole] or [rps]
    answered = [p for p in series if p.completed > p.errors]
    worst = {
        f"p{pct:g}": max((getattr(p, f"p{pct:g}_ms") or 0.0 for p in answered), default=0.0)
        for pct in SECOND_PERCENTILES
    }
    return max(rates), min(rates), worst


def summarize(
    engine: Counts, recorder: Recorder, *, target: str, scenario: str, started_at: str, interrupted: bool = False,
    workers: int = 1,
) -> Summary:  # fmt: skip
    lag = recorder.lag
    window = engine.window or 1e-9
    completed = recorder.completed
    latency = _latency(recorder.latency, PERCENTILES)
    failed = sum(n for (_, outcome), n in recorder.outcomes.items() if is_failure(outcome))
    rps = completed / window
    rps_max, rps_min, worst = _per_second(recorder.series, window, rps)
    routes: dict[str, dict[str, int]] = {}
    for (route, outcome), n in sorted(recorder.outcomes.items()):
        routes.setdefault(route, {})[outcome] = n
    return Summary(
        target=target,
        scenario=scenario,
        started_at=started_at,
        duration_s=round(window, 3),
        scheduled=engine.scheduled,
        sent=engine.sent,
        dropped=engine.dropped,
        completed=completed,
        errors=recorder.errors,
        error_rate=recorder.errors / completed if completed else 0.0,
        dropped_rate=engine.dropped / engine.scheduled if engine.scheduled else 0.0,
        rps=rps,
        target_rps=engine.scheduled / window,
        latency_ms=latency,
        lag_ms={f"p{p}": v / 1000 for p, v in zip((50, 99), percentiles(lag, [50, 99]), strict=True)}
        | {"max": lag.get_max_value() / 1000},
        outcomes=recorder.outcome_totals(),
        routes=routes,
        interrupted=interrupted,
        workers=workers,
        failed=failed,
        failed_rate=failed / completed if completed else 0.0,
        failed_latency_ms=_latency(recorder.failed_latency, FAILED_PERCENTILES),
        rps_max=rps_max,
        rps_min=rps_min,
        worst_second_ms=worst,
    )


def check(summary: Summary, recorder: Recorder, thresholds: Sequence[Threshold]) -> None:
    """Evaluate the thresholds into summary.thresholds (latency ones read the requests that did not fail;
    with none of those, a latency threshold has no value and fails: an outage is not fast)."""
    answered = recorder.latency.total_count > 0
    nan = math.nan
    values = {
        "avg": summary.latency_ms["avg"],
        "min": summary.latency_ms["min"],
        "med": summary.latency_ms["p50"],
        "max": summary.latency_ms["max"],
        "error_rate": summary.error_rate,
        "failed_rate": summary.failed_rate,
        "dropped_rate": summary.dropped_rate,
        "rps": summary.rps,
        "max(rps)": summary.rps_max,
        "min(rps)": summary.rps_min,
        "requests": float(summary.completed),
    } | {f"max(p({k[1:]}))": v for k, v in summary.worst_second_ms.items()}
    if not answered:
        values |= {k: nan for k in values if k in ("avg", "min", "med", "max") or "p(" in k}

    def percentile_ms(p: float) -> float:
        return percentiles(recorder.latency, [p])[0] / 1000 if answered else nan

    for t in thresholds:
        ok, actual = t.check(values, percentile_ms)
        unit = "ms" if t.percentile is not None or t.metric in ("avg", "min", "med", "max") or "p(" in t.metric else ""
        summary.thresholds.append(
            {"threshold": t.text, "ok": ok, "actual": None if math.isnan(actual) else actual, "unit": unit}
        )


def table(summary: Summary) -> Table:
    title = f"loadgen run: {summary.target}" + (" [bold red](INTERRUPTED: stopped early)[/bold red]"
                                                 if summary.interrupted else "")  # fmt: skip
    t = Table(title=title, show_header=True, header_style="bold")
    t.add_column("metric")
    t.add_column("value", justify="right")
    t.add_row("duration", f"{summary.duration_s:.1f} s" + (" (interrupted)" if summary.interrupted else ""))
    if summary.workers > 1:
        t.add_row("worker processes", f"{summary.workers}")
    t.add_row("requests (finished)", f"{summary.completed:,}")
    t.add_row("scheduled / sent", f"{summary.scheduled:,} / {summary.sent:,}")
    t.add_row("dropped (in-flight bound reached)", f"{summary.dropped:,} ({summary.dropped_rate:.2%} of the schedule)")
    t.add_row("throughput", f"{summary.rps:,.1f} req/s (target {summary.target_rps:,.1f})")
    t.add_row("busiest / quietest second", f"{summary.rps_max:,.0f} / {summary.rps_min:,.0f} req/s")
    t.add_row("error rate (transport + 5xx)", f"{summary.error_rate:.4%} ({summary.errors:,})")
    t.add_row("failed (transport + status >= 400)", f"{summary.failed_rate:.4%} ({summary.failed:,})")
    for name, value in summary.latency_ms.items():
        t.add_row(f"latency {name} (not failed)", f"{value:,.2f} ms")
    if summary.worst_second_ms:
        t.add_row("worst second p50 / p90 / p99",
                  " / ".join(f"{v:,.2f}" for v in summary.worst_second_ms.values()) + " ms")  # fmt: skip
    if summary.errors:
        t.add_row("latency of failed requests " + " / ".join(summary.failed_latency_ms),
                  " / ".join(f"{v:,.2f}" for v in summary.failed_latency_ms.values()) + " ms")  # fmt: skip
    t.add_row("schedule lag p50 / p99 / max", " / ".join(f"{v:,.2f}" for v in summary.lag_ms.values()) + " ms")
    t.add_row("outcomes", ", ".join(f"{k}: {v:,}" for k, v in summary.outcomes.items()) or "-")
    for th in summary.thresholds:
        verdict = "[green]pass[/green]" if th["ok"] else "[red]FAIL[/red]"
        unit = f" {th['unit']}" if th.get("unit") else ""
        actual = "no answered request" if th["actual"] is None else f"actual {th['actual']:,.4g}{unit}"
        t.add_row(f"threshold {th['threshold']}", f"{verdict} ({actual})")
    return t


def write_json(path: Path, summary: Summary, series: Sequence[Point]) -> None:
    doc = asdict(summary) | {"passed": summary.passed, "series": [asdict(p) for p in series]}
    path.write_text(json.dumps(doc, indent=2) + "\n")


def write_csv(path: Path, series: Sequence[Point]) -> None:
    """One row per second; one column per outcome seen during the run."""
    outcomes = sorted({k for p in series for k in p.outcomes})
    base = [f.name for f in fields(Point) if f.name != "outcomes"]
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*base, *(f"outcome_{o}" for o in outcomes)])
        for p in series:
            row = asdict(p)
            w.writerow([*(row[k] for k in base), *(p.outcomes.get(o, 0) for o in outcomes)])


# --- HTML -------------------------------------------------------------------------------------------------

_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
_W, _H, _PAD_L, _PAD_B, _PAD_T, _PAD_R = 760, 260, 60, 30, 20, 130


def _nice_max(v: float) -> float:
    """The smallest 1, 2, 2.5 or 5 x 10^k at or above v: a round top for the y axis."""
    if v <= 0:
        return 1.0
    mag = 10 ** math.floor(math.log10(v))
    return next(m * mag for m in (1, 2, 2.5, 5, 10) if v <= m * mag * (1 + 1e-9))


def svg_lines(title: str, xs: Sequence[float], lines: dict[str, Sequence[float]], unit: str, *,
              stacked_bars: bool = False) -> str:  # fmt: skip
    """A small line chart (or stacked bar chart) as an inline SVG string."""
    pw, ph = _W - _PAD_L - _PAD_R, _H - _PAD_T - _PAD_B
    x_max = max(xs) if xs else 1.0
    x_max = x_max or 1.0
    if stacked_bars:
        totals = [sum(vals[i] for vals in lines.values()) for i in range(len(xs))]
        y_max = _nice_max(max(totals, default=0))
    else:
        y_max = _nice_max(max((v for vals in lines.values() for v in vals), default=0))

    def px(x: float) -> float:
        return _PAD_L + pw * x / x_max

    def py(y: float) -> float:
        return _PAD_T + ph * (1 - y / y_max)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" role="img">',
           f"<title>{html.escape(title)}</title>",
           f'<rect x="{_PAD_L}" y="{_PAD_T}" width="{pw}" height="{ph}" fill="none" stroke="#ccc"/>']  # fmt: skip
    for k in range(5):
        y = y_max * k / 4
        out.append(f'<line x1="{_PAD_L}" x2="{_PAD_L + pw}" y1="{py(y):.1f}" y2="{py(y):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{_PAD_L - 6}" y="{py(y) + 4:.1f}" text-anchor="end" font-size="11">{y:g}</text>')
    for k in range(5):
        x = x_max * k / 4
        out.append(f'<text x="{px(x):.1f}" y="{_H - 8}" text-anchor="middle" font-size="11">{x:.0f}s</text>')
    out.append(f'<text x="8" y="{_PAD_T - 6}" font-size="11">{html.escape(unit)}</text>')
    bar_w = max(1.0, pw / max(len(xs), 1) * 0.9)
    base = [0.0] * len(xs)
    for n, (name, vals) in enumerate(lines.items()):
        color = _COLORS[n % len(_COLORS)]
        if stacked_bars:
            for i, (x, v) in enumerate(zip(xs, vals, strict=True)):
                if v:
                    top, bottom = py(base[i] + v), py(base[i])
                    out.append(f'<rect x="{px(x) - bar_w:.1f}" y="{top:.1f}" width="{bar_w:.1f}" '
                               f'height="{bottom - top:.1f}" fill="{color}"/>')  # fmt: skip
                    base[i] += v
        else:
            pts = " ".join(f"{px(x):.1f},{py(min(v, y_max)):.1f}" for x, v in zip(xs, vals, strict=True))
            out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{pts}"/>')
        ly = _PAD_T + 14 * n + 10
        out.append(f'<rect x="{_W - _PAD_R + 10}" y="{ly - 9}" width="10" height="10" fill="{color}"/>')
        out.append(f'<text x="{_W - _PAD_R + 24}" y="{ly}" font-size="11">{html.escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _actual(value: float | None) -> str:
    return "no answered request" if value is None else f"{value:,.4g}"


def write_html(path: Path, summary: Summary, series: Sequence[Point]) -> None:
    xs = [p.t for p in series]
    latency = svg_lines(
        "Latency percentiles per second",
        xs,
        {"p50": [p.p50_ms for p in series], "p90": [p.p90_ms for p in series],
         "p99": [p.p99_ms for p in series], "max": [p.max_ms for p in series]},
        "ms",
    )  # fmt: skip
    throughput = svg_lines(
        "Throughput",
        xs,
        {"target": [p.target_rps for p in series], "finished": [float(p.completed) for p in series],
         "dropped": [float(p.dropped) for p in series]},
        "requests / s",
    )  # fmt: skip
    names = sorted({k for p in series for k in p.outcomes}, key=lambda o: (is_error(o), o))
    outcomes = svg_lines(
        "Outcomes per second", xs, {o: [float(p.outcomes.get(o, 0)) for p in series] for o in names},
        "requests / s", stacked_bars=True,
    )  # fmt: skip
    rows = "".join(
        f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>"
        for k, v in [
            ("target", summary.target),
            ("scenario", summary.scenario),
            ("started", summary.started_at),
            ("duration", f"{summary.duration_s:.1f} s"),
            ("requests (finished)", f"{summary.completed:,}"),
            ("scheduled / sent / dropped", f"{summary.scheduled:,} / {summary.sent:,} / {summary.dropped:,}"),
            ("throughput", f"{summary.rps:,.1f} req/s (target {summary.target_rps:,.1f})"),
            ("error rate (transport errors + 5xx)", f"{summary.error_rate:.4%}"),
            *((f"latency {k}", f"{v:,.2f} ms") for k, v in summary.latency_ms.items()),
            ("schedule lag p99", f"{summary.lag_ms['p99']:,.2f} ms"),
            ("outcomes", ", ".join(f"{k}: {v:,}" for k, v in summary.outcomes.items())),
        ]
    )
    checks = "".join(
        f'<tr><td>{html.escape(t["threshold"])}</td><td class="{"ok" if t["ok"] else "fail"}">'
        f"{'pass' if t['ok'] else 'FAIL'}</td><td>{_actual(t['actual'])}</td></tr>"
        for t in summary.thresholds
    )
    verdict = "" if not summary.thresholds else ("PASSED" if summary.passed else "FAILED")
    path.write_text(f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>loadgen report {html.escape(summary.started_at)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:900px}} td{{padding:2px 12px}}
.ok{{color:#2a2}} .fail{{color:#c22;font-weight:bold}} h2{{margin-top:1.5em}}</style></head><body>
<h1>Load test report {html.escape(verdict)}</h1>
<p>Open-loop: latency counts from each request's scheduled start. Errors are transport errors and 5xx;
4xx (the deliberate invalid share) are not errors. Transport error kinds: {", ".join(ERROR_KINDS)}.</p>
<table>{rows}</table>
{
        "<h2>Thresholds</h2><table><tr><th>threshold</th><th>verdict</th><th>actual</th></tr>" + checks + "</table>"
        if checks
        else ""
    }
<h2>Latency percentiles over time</h2>{latency}
<h2>Throughput</h2>{throughput}
<h2>Outcomes</h2>{outcomes}
</body></html>
""")
