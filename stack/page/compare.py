"""A run's figures, kept in its run folder (run.json), and two runs side by side (`--compare OTHER_RUN`).

run.json (format FORMAT) holds what a later comparison needs without the Prometheus that served the run:
- `report`: the SLO report of the window, exactly as `python -m stack report --json` prints it; `text`: as the
  terminal shows it;
- `figures`: over the whole window, each SLI (the report's), client and service latency p50/p99 (from the
  histograms' increase over the window, the prediction routes only on the service's side) and the capacity
  figures as mean rates over the window (target, scheduled, sent, dropped, answered by the service, 5xx);
- `window` (start, end, step, rate interval), `prometheus` (the URL read) and `prometheus_data` (its data
  folder, when known: start a Prometheus on it to draw the page again), and `page` (the page's file name).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from contract import metrics
from stack.page.fetch import Frame
from stack.page.units import fmt
from stack.prometheus import Prometheus
from stack.report import Report, render
from stack.server_series import OURS, ServerSeries

FORMAT = "slo-stack-run/1"
RUN_FILE = "run.json"

LOADGEN = f'job="{metrics.LOADGEN_JOB}"'
CLIENT_LATENCY = f"{metrics.LOADGEN_REQUEST_DURATION.name}_bucket{{{LOADGEN}}}"
CLIENT_RATES = {
    "target": f"sum(avg_over_time({metrics.LOADGEN_TARGET_RATE.name}{{{LOADGEN}}}[{{range}}]))",
    "scheduled": f"sum(rate({metrics.LOADGEN_SCHEDULED.name}{{{LOADGEN}}}[{{range}}]))",
    "sent": f"sum(rate({metrics.LOADGEN_SENT.name}{{{LOADGEN}}}[{{range}}]))",
    "dropped": f"sum(rate({metrics.LOADGEN_DROPPED.name}{{{LOADGEN}}}[{{range}}]))",
}


def latency_series(server: ServerSeries) -> dict[str, str]:
    """Each side's latency buckets (the server's: none where its spec reads no histogram)."""
    series = {"client": CLIENT_LATENCY}
    if server.buckets is not None:
        series["service"] = server.buckets
    return series


def rates(server: ServerSeries) -> dict[str, str]:
    """Each rate figure's query, `{range}` for the window."""
    counted = f"{server.counted}{{{server.selector}}}"
    answered = f"sum(rate({counted}[{{range}}]))"
    found = dict(CLIENT_RATES, **{"service answered": answered})
    if server.status_label is not None:
        matchers = ",".join(m for m in (server.selector, f'{server.status_label}=~"5.."') if m)
        fives = f"{server.counted}{{{matchers}}}"
        # a 5xx series is born with the first 5xx: none while the service answered is 0, not "no data"
        found["service 5xx"] = f"sum(rate({fives}[{{range}}])) or on() (0 * {answered})"
    return found


@dataclass(frozen=True)
class Figure:
    group: str  # "SLI", "latency", "rate"
    name: str
    unit: str  # Grafana's unit, for the page


def finite(value: float | None) -> float | None:
    """+Inf (a p99 past the top bucket) is no figure: JSON cannot hold it, a difference of two is NaN."""
    return None if value is None or math.isinf(value) else value


def figures(
    prom: Prometheus, report: Report, frame: Frame, server: ServerSeries = OURS
) -> dict[str, dict[str, float | None]]:
    """The run's figures (see the module's doc), each group name -> figure name -> value (None: no data); the
    server's side read from `server`, the spec's own request series."""
    at, window = frame.window.end, frame.range
    latency: dict[str, float | None] = {}
    for side, buckets in latency_series(server).items():
        for q in (0.5, 0.99):
            expr = f"histogram_quantile({q}, sum by (le) (increase({buckets}[{window}])))"
            latency[f"{side} p{round(q * 100)}"] = finite(prom.scalar(expr, at))
    rate = {name: finite(prom.scalar(expr.replace("{range}", window), at)) for name, expr in rates(server).items()}
    return {"sli": {s.name: s.sli for s in report.slos}, "latency": latency, "rate": rate}


UNITS = {"sli": "percentunit", "latency": "s", "rate": "reqps"}
TITLES = {"sli": "SLI over the window", "latency": "latency over the window", "rate": "mean rate over the window"}


def run_record(
    report: Report, frame: Frame, found: dict[str, Any], prometheus: str, data: Path | None
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "page": "report.html",
        "prometheus": prometheus,
        "prometheus_data": None if data is None else str(data),
        "window": {
            "start": frame.window.start,
            "end": frame.window.end,
            "step": frame.step,
            "rate_interval": frame.rate_interval,
        },
        "report": json.loads(report.to_json()),
        "text": render(report),
        "figures": found,
    }


def load_run(path: Path) -> dict[str, Any]:
    """A run folder's run.json (or the file itself); ValueError naming the path when it is not one."""
    file = path / RUN_FILE if path.is_dir() else path
    try:
        record = json.loads(file.read_text())
    except FileNotFoundError:
        raise ValueError(f"{file}: no run here (a run folder holds {RUN_FILE}, written with --html)") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{file}: not JSON ({exc})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ValueError(f"{file}: not a run record of format {FORMAT}")
    return record


def difference(this: float | None, other: float | None) -> float | None:
    return None if this is None or other is None else this - other


def _cell(value: float | None) -> str:
    return "" if value is None else repr(value)


def table(this: dict[str, Any], other: dict[str, Any], other_name: str) -> str:
    """This run against another, figure by figure, with the difference (this minus other)."""
    rows = []
    for group, unit in UNITS.items():
        mine, theirs = this["figures"].get(group, {}), other["figures"].get(group, {})
        for name in [*mine, *(n for n in theirs if n not in mine)]:
            a, b = mine.get(name), theirs.get(name)
            d = difference(a, b)
            sign = "+" if d is not None and d > 0 else ""
            rows.append(
                f'<tr data-group="{group}" data-name="{escape(name, quote=True)}" data-this="{_cell(a)}" '
                f'data-difference="{_cell(d)}" '
                f'data-other="{_cell(b)}"><th>{escape(TITLES[group])}: {escape(name)}</th><td>{fmt(a, unit)}</td>'
                f"<td>{fmt(b, unit)}</td><td>{sign}{fmt(d, unit)}</td></tr>"
            )
    window = other["report"]
    head = (
        f"<tr><th>figure</th><th>this run</th><th>{escape(other_name)}<br><small>{escape(window['start'])} to "
        f"{escape(window['end'])}</small></th><th>difference</th></tr>"
    )
    said = {True: "PASS", False: "BREACH"}
    verdicts = (
        f"<p>verdicts: this run {said[this['report']['ok']]}, {escape(other_name)} {said[other['report']['ok']]}</p>"
    )
    return (
        f'<section id="compare"><h2>Compared with {escape(other_name)}</h2>{verdicts}'
        f'<table class="compare">{head}{"".join(rows)}</table></section>'
    )
