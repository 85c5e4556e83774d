"""The SLO report of any window, read from Prometheus's HTTP API: each SLI weighted by requests, the share of
that window's error budget spent, the spans without data, and the alerts that fired, one line per incident.
Everything comes from the SLO spec (prometheus/slo.yaml, Sloth format) and from Prometheus; nothing here
restates an objective.

Per SLO, over the window [start, end) (stack.spans.Window: the last N seconds, two times, a calendar month):
- requests and errors: the spec's own total and error queries with {{.window}} = the window's length, evaluated
  at its end: rates of the raw counters over the whole window, times its length, i.e. their increases. So the
  SLI is weighted by requests (never an average of short-window ratios);
- budget spent: errors / (budget x requests), the share of the errors this window's requests allowed (1 - the
  objective of them); over 100% the SLO is missed. A raw SLI (an error ratio, no events) gives ratio / budget;
- "no data" spans: where the rules' `slo:sli_no_data:bool` is 1 (no request in its 5m window) or has no sample
  (the rules were not evaluated), on a grid of at most stack.spans.MAX_POINTS points;
- incidents: from ALERTS (stack.spans.incidents), one line each with its start, end and severity;
- the rules evaluating: some recording of the SLO (Sloth's names) has a sample in the window.
A breach is an SLI under its objective (budget spent over 100%), an SLO alert that fired, no traffic at all,
or the rules not evaluating.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

from slo.spec import WINDOW_VARIABLE, SLOSpec, Spec
from slo.windows import prom_duration
from stack.prometheus import Prometheus
from stack.spans import Incident, Span, Window, incidents, iso, samples, severity, spans

#: Recordings whose presence shows an SLO's rules evaluating (Sloth's names; any one will do).
RECORDINGS = "slo:sli_error:ratio_rate5m|slo:objective:ratio|sloth_slo_info"
NO_DATA = "slo:sli_no_data:bool"


@dataclass
class SloResult:
    name: str
    objective: float
    requests: float | None  # increase of the total query over the window; None for a raw SLI
    errors: float | None  # increase of the error query over the window
    error_ratio: float | None  # errors / requests, None = no traffic
    sli: float | None  # 1 - error_ratio
    budget_spent: float | None  # error_ratio / budget: 1.0 = the window's whole budget
    sli_5m_now: float | None  # from slo:sli_error:ratio_rate5m at the window's end, as a good ratio
    no_data: list[Span] | None  # None: the rules record no `slo:sli_no_data:bool` for this SLO
    alert_fired: bool
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        fields = {k: v for k, v in vars(self).items() if k != "no_data"}
        no_data = None if self.no_data is None else [s.as_dict() for s in self.no_data]
        return {**fields, "no_data": no_data, "ok": self.ok}


@dataclass
class Report:
    service: str
    window: Window
    slos: list[SloResult]
    incidents: list[Incident]  # every alert that fired in the window, one per incident
    active: list[dict[str, Any]]  # /api/v1/alerts when the report was made

    @property
    def ok(self) -> bool:
        return all(slo.ok for slo in self.slos)

    @property
    def window_seconds(self) -> float:
        return self.window.seconds

    def to_json(self) -> str:
        data = {
            "service": self.service,
            "start": iso(self.window.start),
            "end": iso(self.window.end),
            "window_seconds": round(self.window.seconds, 3),
            "window": self.window.label,
            "slos": [s.as_dict() for s in self.slos],
            "incidents": [i.as_dict() for i in self.incidents],
            "active": self.active,
            "ok": self.ok,
        }
        return json.dumps(data, indent=2)


def sli_queries(slo: SLOSpec, window: str) -> tuple[str, str]:
    """The SLI's error and total queries over `window` (a raw SLI's ratio is its own total of 1)."""
    events = slo.sli.events
    error, total = (events.error_query, events.total_query) if events else (slo.sli.error_ratio_query(), "vector(1)")
    return error.replace(WINDOW_VARIABLE, window), total.replace(WINDOW_VARIABLE, window)


def assess(
    slo: SLOSpec,
    window_seconds: float,
    total: float | None,
    errors: float | None,
    now_5m: float | None,
    evaluating: bool,
    alert_fired: bool,
    no_data: list[Span] | None = None,
) -> SloResult:
    """One SLO's verdict from what Prometheus answered: total and errors are rates over the window."""
    problems = []
    error_ratio = sli = spent = None
    if not total:
        problems.append("no traffic in the window")
    else:
        error_ratio = (errors or 0.0) / total  # no error series: no errors
        sli = 1 - error_ratio
        budget = float(slo.error_budget)
        spent = error_ratio / budget if budget else (math.inf if error_ratio else 0.0)
        if sli < float(slo.objective_ratio):
            problems.append(f"SLI {sli:.4%} under the objective {slo.objective:g}%")
    if not evaluating:
        problems.append("Sloth recording rules not evaluating (no slo:... recording of this SLO in the window)")
    if alert_fired:
        problems.append(f"alert {slo.alerting.name} fired")
    events = slo.sli.events is not None
    return SloResult(
        name=slo.name,
        objective=slo.objective,
        requests=None if total is None or not events else total * window_seconds,
        errors=None if not events or total is None else (errors or 0.0) * window_seconds,
        error_ratio=error_ratio,
        sli=sli,
        budget_spent=None if spent is None or math.isinf(spent) else spent,
        sli_5m_now=None if now_5m is None else 1 - now_5m,
        no_data=no_data,
        alert_fired=alert_fired,
        problems=problems,
    )


def no_data_spans(prom: Prometheus, selector: str, window: Window) -> list[Span] | None:
    """Where the SLO had no request (or no rule evaluation); None when the rules record no such series."""
    step = window.step()
    series = prom.query_range(f"max({NO_DATA}{selector})", window.start, window.end, step)
    if not series:
        return None
    present = {round(t, 3): v for t, v in samples(series[0])}
    grid = [window.start + i * step for i in range(int(window.seconds // step) + 1)]
    empty = [t for t in grid if present.get(round(t, 3), 1.0) != 0.0]
    return spans(empty, step, window.end)


def build_window(prom: Prometheus, spec: Spec, window: Window) -> Report:
    range_text = prom_duration(round(window.seconds, 3))
    step = window.step()
    found = incidents(prom.query_range("ALERTS", window.start, window.end, step), step, window)
    results = []
    for slo in spec.slos:
        error_query, total_query = sli_queries(slo, range_text)
        selector = f'{{sloth_service="{spec.service}", sloth_slo="{slo.name}"}}'
        recordings = f'{{__name__=~"{RECORDINGS}", sloth_service="{spec.service}", sloth_slo="{slo.name}"}}'
        fired = any(  # two services of one spec file may have SLOs and alerts of the same name
            i.alertname == slo.alerting.name
            and i.labels.get("sloth_slo", slo.name) == slo.name
            and i.labels.get("sloth_service", spec.service) == spec.service
            for i in found
        )
        results.append(
            assess(
                slo,
                window.seconds,
                total=prom.scalar(total_query, window.end),
                errors=prom.scalar(error_query, window.end),
                now_5m=prom.scalar(f"max(slo:sli_error:ratio_rate5m{selector})", window.end),
                evaluating=bool(prom.scalar(f"count(last_over_time({recordings}[{range_text}]))", window.end)),
                alert_fired=fired,
                no_data=no_data_spans(prom, selector, window),
            )
        )
    return Report(spec.service, window, results, found, prom.alerts())


def build(prom: Prometheus, spec: Spec, window_seconds: float, at: float | None = None) -> Report:
    """The report of the last `window_seconds` before `at` (now by default): a bounded soak's run."""
    return build_window(prom, spec, Window.last(window_seconds, time.time() if at is None else at))


def _pct(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f}%"


def _count(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _duration(seconds: float) -> str:
    """Whole seconds in Prometheus's units (0s for nothing)."""
    return prom_duration(round(seconds)) if round(seconds) > 0 else "0s"


def render(report: Report) -> str:
    window = report.window
    rows = [("SLO", "objective", "SLI", "errors", "requests", "budget spent", "no data", "SLI 5m at end", "verdict")]
    for s in report.slos:
        no_data = "?" if s.no_data is None else _duration(sum(x.end - x.start for x in s.no_data) or 0.0)
        rows.append(
            (
                s.name,
                f"{s.objective:g}%",
                _pct(s.sli),
                _count(s.errors),
                _count(s.requests),
                _pct(s.budget_spent, 1),
                no_data,
                _pct(s.sli_5m_now),
                "ok" if s.ok else "BREACH",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    label = f", {window.label}" if window.label else ""
    lines = [
        f"SLO report for {report.service}, {iso(window.start)} to {iso(window.end)} "
        f"({_duration(window.seconds)}{label}; from Prometheus)",
        "  budget spent: errors / (error budget x requests) of this window; over 100% the objective is missed",
    ]
    lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines += [f"  {s.name}: {problem}" for s in report.slos for problem in s.problems]
    gaps = [(s.name, span) for s in report.slos for span in s.no_data or []]
    lines.append("no data (no request, or no rule evaluation):" + ("" if gaps else " none"))
    lines += [f"  {name}: {iso(x.start)} to {iso(x.end)} ({_duration(x.end - x.start)})" for name, x in gaps]
    lines.append("alerts that fired, one line per incident:" + ("" if report.incidents else " none"))
    for i in report.incidents:
        end = "still firing" if i.end is None else f"{iso(i.end)} ({_duration(i.end - i.start)})"
        slo = f" {i.labels['sloth_slo']}" if "sloth_slo" in i.labels else ""
        lines.append(f"  {iso(i.start)} to {end}  {i.severity}  {i.alertname}{slo}")
    lines.append("alerts active now:" + ("" if report.active else " none"))
    lines += [f"  {a['state']}  {_active(a['labels'])}" for a in report.active]
    lines.append("verdict: " + ("PASS: every SLO met" if report.ok else "BREACH"))
    return "\n".join(lines)


def _active(labels: dict[str, str]) -> str:
    """An active alert as the incident lines name one: severity, name, SLO (its other labels are in Prometheus)."""
    slo = f" {labels['sloth_slo']}" if "sloth_slo" in labels else ""
    return f"{severity(labels)}  {labels.get('alertname')}{slo}"
