"""A run's results: the summary, the terminal table, JSON, CSV and (loadgen.html_report) the HTML report."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from rich.table import Table

from loadgen.engine import Engine
from loadgen.html_report import write_html
from loadgen.recorder import Point, Recorder, percentiles
from loadgen.thresholds import Threshold

PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9)


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

    @property
    def passed(self) -> bool:
        return all(t["ok"] for t in self.thresholds)


def summarize(engine: Engine, recorder: Recorder, *, target: str, scenario: str, started_at: str) -> Summary:
    lat, lag = recorder.latency, recorder.lag
    window = engine.window or 1e-9
    completed = recorder.completed
    latency = {"min": lat.get_min_value() / 1000 if completed else 0.0, "avg": lat.get_mean_value() / 1000}
    latency |= {f"p{p:g}": v / 1000 for p, v in zip(PERCENTILES, percentiles(lat, PERCENTILES), strict=True)}
    latency["max"] = lat.get_max_value() / 1000
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
        rps=completed / window,
        target_rps=engine.scheduled / window,
        latency_ms=latency,
        lag_ms={f"p{p}": v / 1000 for p, v in zip((50, 99), percentiles(lag, [50, 99]), strict=True)}
        | {"max": lag.get_max_value() / 1000},
        outcomes=recorder.outcome_totals(),
        routes=routes,
    )


def check(summary: Summary, recorder: Recorder, thresholds: Sequence[Threshold]) -> None:
    """Evaluate the thresholds into summary.thresholds."""
    values = {
        "avg": summary.latency_ms["avg"],
        "min": summary.latency_ms["min"],
        "med": summary.latency_ms["p50"],
        "max": summary.latency_ms["max"],
        "error_rate": summary.error_rate,
        "dropped_rate": summary.dropped_rate,
        "rps": summary.rps,
        "requests": float(summary.completed),
    }

    def percentile_ms(p: float) -> float:
        return percentiles(recorder.latency, [p])[0] / 1000

    for t in thresholds:
        ok, actual = t.check(values, percentile_ms)
        summary.thresholds.append({"threshold": t.text, "ok": ok, "actual": actual})


def table(summary: Summary) -> Table:
    t = Table(title=f"loadgen run: {summary.target}", show_header=True, header_style="bold")
    t.add_column("metric")
    t.add_column("value", justify="right")
    t.add_row("duration", f"{summary.duration_s:.1f} s")
    t.add_row("requests (finished)", f"{summary.completed:,}")
    t.add_row("scheduled / sent / dropped", f"{summary.scheduled:,} / {summary.sent:,} / {summary.dropped:,}")
    t.add_row("throughput", f"{summary.rps:,.1f} req/s (target {summary.target_rps:,.1f})")
    t.add_row("error rate (transport + 5xx)", f"{summary.error_rate:.4%} ({summary.errors:,})")
    for name, value in summary.latency_ms.items():
        t.add_row(f"latency {name}", f"{value:,.2f} ms")
    t.add_row("schedule lag p50 / p99 / max", " / ".join(f"{v:,.2f}" for v in summary.lag_ms.values()) + " ms")
    t.add_row("outcomes", ", ".join(f"{k}: {v:,}" for k, v in summary.outcomes.items()) or "-")
    for th in summary.thresholds:
        verdict = "[green]pass[/green]" if th["ok"] else "[red]FAIL[/red]"
        t.add_row(f"threshold {th['threshold']}", f"{verdict} (actual {th['actual']:,.4g})")
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
