"""The run's HTML report: one self-contained file (inline SVG charts, no JavaScript, nothing fetched).

What Locust's and k6's reports show, with the open-loop generator's own figures: the run's settings and
scenario, the verdict and thresholds with units, latency percentiles, per-route and per-outcome tables,
failures by kind with when they happened, and per-second charts: latency (log scale; no point for a second
in which nothing succeeded), throughput against the target, outcomes, in flight and dropped, schedule lag.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loadgen import charts
from loadgen.recorder import Point, is_error

if TYPE_CHECKING:  # report imports this module for write_html
    from loadgen.report import Summary

#: An interval shorter than this (the run's last, cut by its end) is too short to be drawn as a rate.
MIN_RATE_SECONDS = 0.25

#: The Summary fields this page lays out itself; any other (added later) is listed under "More figures".
_SHOWN = {"target", "scenario", "started_at", "duration_s", "scheduled", "sent", "dropped", "completed", "errors",
          "error_rate", "dropped_rate", "rps", "target_rps", "latency_ms", "lag_ms", "outcomes", "routes",
          "thresholds", "interrupted", "workers", "failed", "failed_rate", "failed_latency_ms", "rps_max", "rps_min",
          "worst_second_ms"}  # fmt: skip

_SHADES = {
    "2": ("#2ca02c", "#98df8a", "#1a6b1a"),
    "3": ("#17becf", "#9edae5"),
    "4": ("#ff9f1c", "#ffd08a", "#c77700", "#e6c229"),
    "5": ("#d62728", "#ff9896", "#8c1c13", "#e377c2"),
    "": ("#6a3d9a", "#9467bd", "#c5b0d5", "#393b79", "#7f7f7f"),  # transport errors (no status code)
}
_CSS = """body{font-family:system-ui,sans-serif;margin:24px;max-width:940px;color:#222}
h1{font-size:22px} h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:6px 0 10px} td,th{padding:2px 10px;text-align:left;font-size:13px}
th{background:#f3f3f3} td{font-variant-numeric:tabular-nums}
.ok{color:#1a7f1a;font-weight:bold} .fail{color:#c22;font-weight:bold} .note{color:#555;font-size:13px}
.badge{padding:2px 8px;border-radius:4px;color:#fff;font-size:15px;margin-left:8px}
.passed{background:#1a7f1a} .failed{background:#c22} .interrupted{background:#b36b00}
.cols{display:flex;gap:28px;flex-wrap:wrap}"""


def write_html(
    path: Path, summary: Summary, series: Sequence[Point], settings: Mapping[str, Any] | None = None
) -> None:
    path.write_text(page(summary, series, settings))


def page(summary: Summary, series: Sequence[Point], settings: Mapping[str, Any] | None = None) -> str:
    series = list(series)  # (the recorder's deque does not slice)
    body = [
        f"<h1>Load test report{_badges(summary)}</h1>",
        '<p class="note">Open loop: each request starts at its scheduled time and its latency counts from then. '
        "Errors are transport errors and 5xx; 4xx answers (the deliberate invalid share) are not errors.</p>",
        '<div class="cols">',
        _section("Run", _table(None, _run_rows(summary, settings))),
        _section("Results", _table(None, _result_rows(summary))),
        "</div>",
        _thresholds(summary),
        '<div class="cols">',
        _section("Latency", _table(("statistic", "value"), [(k, _ms(v)) for k, v in summary.latency_ms.items()])),
        _section("Schedule lag", _table(("statistic", "value"), [(k, _ms(v)) for k, v in summary.lag_ms.items()])),
        "</div>",
        _section("Routes", _routes(summary)),
        _section("Outcomes", _outcomes(summary, series)),
        _section("Failures by kind", _failures(summary, series)),
        _more(summary),
        *(_section(title, svg + f'<p class="note">{note}</p>') for title, svg, note in _charts(series)),
    ]
    title = f"loadgen report {summary.target} {summary.started_at}"
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_CSS}</style></head><body>\n" + "\n".join(b for b in body if b) + "\n</body></html>\n"
    )


# --- tables -----------------------------------------------------------------------------------------------


def _section(title: str, content: str) -> str:
    return f"<section><h2>{html.escape(title)}</h2>{content}</section>" if content else ""


def _cell(value: object) -> str:
    return f"<td>{html.escape(str(value))}</td>"


def _table(head: Sequence[str] | None, rows: Iterable[Sequence[object]]) -> str:
    top = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>" if head else ""
    return "<table>" + top + "".join("<tr>" + "".join(map(_cell, r)) + "</tr>" for r in rows) + "</table>"


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.3f} ms" if value < 10 else f"{value:,.1f} ms"


def _pct(value: float) -> str:
    return f"{value:.3%}" if value else "0%"


def _badges(summary: Summary) -> str:
    marks = []
    if getattr(summary, "interrupted", False):
        marks.append('<span class="badge interrupted">INTERRUPTED</span>')
    if summary.thresholds:
        marks.append('<span class="badge passed">PASSED</span>' if summary.passed
                     else '<span class="badge failed">FAILED</span>')  # fmt: skip
    return "".join(marks)


def _value(name: str, value: Any) -> str:
    """A setting or figure with its unit, from its name (…_s, …_ms, …rate, timeout, duration)."""
    if value is None:
        return "-"
    if isinstance(value, dict) and name.endswith("_ms"):  # e.g. percentiles: "p50 1.20 ms, p99 4.00 ms"
        return ", ".join(f"{k} {_value(name, v)}" for k, v in value.items())
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(", ", ": "))
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if name.endswith("_ms"):
        return _ms(value)
    if name.endswith(("_s", "duration", "timeout")):
        return f"{value:,g} s"
    if name.endswith(("_rate", "_fraction")):
        return _pct(value)
    if name.endswith("rps"):
        return f"{value:,.2f} req/s"
    return f"{value:,}"


def _run_rows(summary: Summary, settings: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    rows = [("target", summary.target), ("scenario", summary.scenario or "-"), ("started", summary.started_at)]
    for name, value in (settings or {}).items():
        if name == "description":
            continue
        if name == "profile" and isinstance(value, dict):
            value = _profile(value)
        if name == "workload" and isinstance(value, list):
            value = "; ".join(_request(r) for r in value if isinstance(r, dict))
        rows.append((name.replace("_", " "), _value(name, value)))
    return rows


def _request(request: Mapping[str, Any]) -> str:
    """One request of the workload: '/v1/predict = POST /v1/predict, weight 8, generator
    contract.workload:insurance (invalid_fraction 0.01), check 2xx'."""
    label = request.get("name") or request.get("path")
    body = request.get("body") or {}
    source = next((f"{k} {body[k]}" for k in ("jsonl", "csv", "generator") if body.get(k)), "no body")
    if body.get("options"):
        source += " (" + ", ".join(f"{k} {v}" for k, v in body["options"].items()) + ")"
    check = request.get("check") or {}
    expected = "/".join(str(s) for s in check.get("status") or []) or "2xx"
    if check.get("json_field"):
        expected += f" with {check['json_field']}"
    return (
        f"{label} = {request.get('method')} {request.get('path')}, weight {request.get('weight', 1):g}, {source}, "
        f"check {expected}"
    )


#: Units of the profiles' parameters (loadgen.schedule): rates and durations.
_RATES = {"rate", "start", "end", "base", "peak", "mean", "amplitude", "target"}
_SECONDS = {"over", "at", "length", "period", "duration"}


def _profile(profile: Mapping[str, Any]) -> str:
    """With units: 'constant: rate 50 req/s', 'stages: start 1 req/s; 30 s to 5 req/s; 1 min to 1 req/s'."""

    def part(key: str, value: Any) -> str:
        if isinstance(value, list):
            return "; ".join(step(item) for item in value)
        unit = " req/s" if key in _RATES else " s" if key in _SECONDS else ""
        return f"{key} {value:g}{unit}" if isinstance(value, int | float) else f"{key} {value}"

    def step(item: Any) -> str:
        if isinstance(item, dict) and {"duration", "target"} <= set(item):
            return f"{item['duration']:g} s to {item['target']:g} req/s"
        return str(item)

    rest = [part(k, v) for k, v in profile.items() if k != "kind" and v is not None]
    return f"{profile.get('kind', '?')}: " + "; ".join(rest)


def _result_rows(summary: Summary) -> list[tuple[str, str]]:
    return [
        ("duration", f"{summary.duration_s:,.1f} s"),
        ("scheduled", f"{summary.scheduled:,} requests"),
        ("sent", f"{summary.sent:,} requests"),
        ("dropped (in-flight bound)", f"{summary.dropped:,} requests ({_pct(summary.dropped_rate)} of scheduled)"),
        ("finished", f"{summary.completed:,} requests"),
        ("throughput", f"{summary.rps:,.2f} req/s (target {summary.target_rps:,.2f} req/s)"),
        ("errors (transport + check + 5xx)", f"{summary.errors:,} requests ({_pct(summary.error_rate)} of finished)"),
        (
            "failed (transport + check + status >= 400)",
            f"{summary.failed:,} requests ({_pct(summary.failed_rate)} of finished)",
        ),
        ("failed requests' latency", _value("failed_latency_ms", summary.failed_latency_ms or None)),
        ("busiest / quietest whole second", f"{summary.rps_max:,.2f} / {summary.rps_min:,.2f} req/s"),
        ("worst second's latency", _value("worst_second_ms", summary.worst_second_ms or None)),
        ("worker processes", f"{summary.workers:,}"),
    ]


def _threshold_unit(text: str) -> str:
    metric = text.strip().split("<")[0].split(">")[0].split("=")[0].split("!")[0].strip()
    if metric.startswith("p(") or metric in ("avg", "min", "med", "max") or metric.endswith("_ms"):
        return "ms"
    if "rate" in metric:
        return "ratio"
    if metric.startswith("rps"):
        return "req/s"
    if metric.startswith("requests"):
        return "requests"
    return ""


def _actual(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return _ms(value)
    if unit == "ratio":
        return f"{value:.4g} ({_pct(value)})"
    return f"{value:,.4g} {unit}".strip()


def _thresholds(summary: Summary) -> str:
    rows = []
    for t in summary.thresholds:
        unit = str(t.get("unit") or _threshold_unit(t["threshold"]))
        verdict = '<td class="ok">pass</td>' if t["ok"] else '<td class="fail">FAIL</td>'
        rows.append(f"<tr><td>{html.escape(t['threshold'])}</td>{verdict}{_cell(_actual(t['actual'], unit))}</tr>")
    if not rows:
        return ""
    head = "<tr><th>threshold</th><th>verdict</th><th>actual</th></tr>"
    note = '<p class="note">A bare latency number is milliseconds; rates are ratios of requests.</p>'
    return _section("Thresholds", f"<table>{head}{''.join(rows)}</table>{note}")


def outcome_class(outcome: str) -> str:
    if not outcome[:1].isdigit():
        return "transport error"
    return {"2": "success", "3": "redirect", "4": "client error (not counted as error)", "5": "server error"}.get(
        outcome[0], "other status"
    )


def _routes(summary: Summary) -> str:
    rows = []
    for route, counts in summary.routes.items():
        finished = sum(counts.values())
        errors = sum(n for o, n in counts.items() if is_error(o))
        by_first = {c: sum(n for o, n in counts.items() if o.startswith(c)) for c in "245"}
        transport = sum(n for o, n in counts.items() if not o[:1].isdigit())
        rows.append((route, f"{finished:,}", f"{by_first['2']:,}", f"{by_first['4']:,}", f"{by_first['5']:,}",
                     f"{transport:,}", _pct(errors / finished if finished else 0.0)))  # fmt: skip
    head = ("route", "finished", "2xx", "4xx", "5xx", "transport errors", "error rate")
    return _table(head, rows) if rows else '<p class="note">No request finished.</p>'


def _seen(series: Sequence[Point], outcome: str) -> tuple[int, str]:
    """(seconds in which the outcome occurred, first-last second) from the per-second series."""
    ts = [p.t for p in series if p.outcomes.get(outcome)]
    return len(ts), (f"{ts[0]:,.0f} s - {ts[-1]:,.0f} s" if ts else "-")


def _outcomes(summary: Summary, series: Sequence[Point]) -> str:
    total = summary.completed or 1
    rows = []
    for outcome, n in sorted(summary.outcomes.items(), key=lambda kv: (is_error(kv[0]), kv[0])):
        seconds, span = _seen(series, outcome)
        rows.append((outcome, outcome_class(outcome), f"{n:,}", _pct(n / total), f"{seconds:,}", span))
    head = ("outcome", "class", "requests", "share of finished", "seconds seen", "first - last")
    return _table(head, rows) if rows else '<p class="note">No request finished.</p>'


def _failures(summary: Summary, series: Sequence[Point]) -> str:
    total = summary.completed or 1
    rows = []
    for outcome, n in sorted(summary.outcomes.items(), key=lambda kv: (-kv[1], kv[0])):
        if is_error(outcome):
            seconds, span = _seen(series, outcome)
            rows.append((outcome, outcome_class(outcome), f"{n:,}", _pct(n / total), f"{seconds:,}", span))
    head = ("kind", "class", "requests", "share of finished", "seconds seen", "first - last")
    return _table(head, rows) if rows else '<p class="note">No failure: no transport error and no 5xx.</p>'


def _more(summary: Summary) -> str:
    rows = [(f.name.replace("_", " "), _value(f.name, getattr(summary, f.name)))
            for f in fields(summary) if f.name not in _SHOWN]  # fmt: skip
    return _section("More figures", _table(None, rows)) if rows else ""


# --- charts -----------------------------------------------------------------------------------------------


def spans(series: Sequence[Point]) -> list[tuple[float, float]]:
    """Each point's interval (the previous point's time to its own)."""
    starts = [0.0, *(p.t for p in series)][: len(series)]
    return [(t0, p.t) for t0, p in zip(starts, series, strict=True)]


def per_second(series: Sequence[Point], count: Sequence[float]) -> list[float | None]:
    """Counts per interval as rates; an interval too short to be a rate is left out."""
    out: list[float | None] = []
    for (t0, t1), n in zip(spans(series), count, strict=True):
        out.append(n / (t1 - t0) if t1 - t0 >= MIN_RATE_SECONDS else None)
    return out


def outcome_colors(names: Iterable[str]) -> dict[str, str]:
    used: dict[str, int] = {}
    colors = {}
    for name in names:
        group = name[0] if name[:1] in _SHADES else ""
        shades = _SHADES[group]
        colors[name] = shades[used.get(group, 0) % len(shades)]
        used[group] = used.get(group, 0) + 1
    return colors


def _charts(series: Sequence[Point]) -> list[tuple[str, str, str]]:
    """(heading, svg, note) for each chart."""
    end = series[-1].t if series else 1.0
    mids = [(t0 + t1) / 2 for t0, t1 in spans(series)]
    ticks = [p.t for p in series]

    def line(values: Sequence[float | None], at: Sequence[float] = mids) -> list[tuple[float, float | None]]:
        return list(zip(at, values, strict=True))

    latency = charts.Chart("Latency per second", "ms", log=True, lines={
        "max": charts.Line(line([p.max_ms for p in series]), "#a8a8a8", width=9, merge="max"),
        "p99": charts.Line(line([p.p99_ms for p in series]), "#d62728", width=5.5, merge="max"),
        "p90": charts.Line(line([p.p90_ms for p in series]), "#ff9f1c", width=3, merge="max"),
        "p50": charts.Line(line([p.p50_ms for p in series]), "#1f4e9c", width=1.5, merge="max"),
    })  # fmt: skip
    throughput = charts.Chart("Throughput", "requests/s", lines={
        "target": charts.Line(line([p.target_rps for p in series], ticks), "#c8c8c8", width=7),
        "sent": charts.Line(line(per_second(series, [p.sent for p in series])), "#9467bd", width=4),
        "finished": charts.Line(line(per_second(series, [p.completed for p in series])), "#1f77b4", width=1.5),
        "errors": charts.Line(line(per_second(series, [p.errors for p in series])), "#d62728", width=1.5),
    })  # fmt: skip
    names = sorted({k for p in series for k in p.outcomes}, key=lambda o: (is_error(o), o))
    outcomes = charts.Chart("Outcomes per second", "requests/s", bars=charts.Bars(
        spans(series), {o: per_second(series, [p.outcomes.get(o, 0) for p in series]) for o in names},
        outcome_colors(names)))  # fmt: skip
    load = charts.Chart("In flight and dropped", "requests, requests/s", whole=True, lines={
        "in flight": charts.Line(line([p.in_flight for p in series], ticks), "#1f77b4"),
    }, bars=charts.Bars(spans(series), {"dropped per second": per_second(series, [p.dropped for p in series])},
                        {"dropped per second": "#d62728"}))  # fmt: skip
    lag = charts.Chart("Schedule lag p99 per second", "ms", log=True, lines={
        "lag p99": charts.Line(line([p.lag_p99_ms for p in series]), "#8c564b", merge="max"),
    })  # fmt: skip
    return [
        ("Latency over time", charts.render(latency, end),
         "Percentiles of each second, from each request's scheduled start, log scale. A second in which no "
         "request succeeded has no point (a gap, not a zero). Lines are drawn wider from p50 to max so that "
         "equal values stay visible: with fewer than 100 requests in a second, its p99 is its max. Beyond "
         f"{charts.MAX_POINTS:,} seconds a point stands for several: the worst of them."),
        ("Throughput", charts.render(throughput, end),
         "Target: the schedule's rate; sent, finished and errors (transport + check + 5xx) per second. Lines are drawn "
         "wider from errors to target so that equal values stay visible."),
        ("Outcomes over time", charts.render(outcomes, end),
         "Finished requests per second by status code or transport error kind."),
        ("In flight and dropped", charts.render(load, end),
         "In flight: requests out at each second's end. Dropped: requests due while the in-flight bound was "
         "reached (never sent), per second."),
        ("Schedule lag", charts.render(lag, end),
         "How late the generator sent the requests of each second: a high lag means it could not keep up."),
    ]  # fmt: skip
