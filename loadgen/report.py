"""A run's results: the summary, the terminal table, JSON, CSV and (loadgen.html_report) the HTML report."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

from hdrh.histogram import HdrHistogram
from rich.table import Table

from loadgen.counts import ScheduleCounts
from loadgen.html_report import write_html
from loadgen.recorder import Point, Recorder, percentiles
from loadgen.thresholds import SECOND_PERCENTILES, Threshold

PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9)
#: Percentiles shown for the failed requests' latency, beside the successful ones'.
FAILED_PERCENTILES = (50.0, 99.0)


class Counts(ScheduleCounts, Protocol):
    """A run's schedule counters and the seconds its schedule ran: an Engine's, or workers.Totals."""

    @property
    def window(self) -> float: ...


def is_failure(outcome: str) -> bool:
    """Locust's and k6's (`http_req_failed`) failure: a transport error, a failed check or any status >= 400,
    4xx included."""
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
    t.add_row("error rate (transport + check + 5xx)", f"{summary.error_rate:.4%} ({summary.errors:,})")
    t.add_row("failed (transport + check + status >= 400)", f"{summary.failed_rate:.4%} ({summary.failed:,})")
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


__all__ = ["Summary", "check", "summarize", "table", "write_csv", "write_html", "write_json"]


def write_json(
    path: Path, summary: Summary, series: Sequence[Point], settings: Mapping[str, Any] | None = None
) -> None:
    """The summary, the run's settings (the scenario as played, when given) and the per-second series
    (latency null for a second in which nothing succeeded)."""
    doc = asdict(summary) | {"passed": summary.passed, "settings": dict(settings or {})}
    doc["series"] = [asdict(p) for p in series]
    path.write_text(json.dumps(doc, indent=2) + "\n")


def write_csv(path: Path, series: Sequence[Point]) -> None:
    """One row per second; one column per outcome seen during the run; an empty cell where a second has
    no latency (nothing succeeded) or no lag (nothing sent)."""
    outcomes = sorted({k for p in series for k in p.outcomes})
    base = [f.name for f in fields(Point) if f.name != "outcomes"]
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*base, *(f"outcome_{o}" for o in outcomes)])
        for p in series:
            row = asdict(p)
            w.writerow([*("" if row[k] is None else row[k] for k in base), *(p.outcomes.get(o, 0) for o in outcomes)])
