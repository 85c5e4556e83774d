"""The SLO report of a run, read from Prometheus's HTTP API: each SLI against its objective, the error
budget spent, the alerts that fired. Everything comes from the SLO spec (prometheus/slo.yaml, Sloth
format) and from Prometheus; nothing here restates an objective.

Per SLO, over the run's window:
- the SLI: the spec's own error and total queries evaluated with {{.window}} = the run's length;
- the burn rate: the error ratio divided by the error budget (1 - objective);
- Sloth's recording rules as Prometheus evaluates them now (slo:sli_error:ratio_rate5m and
  slo:period_error_budget_remaining:ratio): missing series mean the rules are not evaluating;
- the SLO's alert (alerting.name) if it fired at any moment of the window (max_over_time over ALERTS).
A breach is any SLI under its objective, an SLO alert that fired, no traffic, or rules not evaluating.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from slo.spec import WINDOW_VARIABLE, SLOSpec, Spec
from stack.prometheus import Prometheus


@dataclass
class SloResult:
    name: str
    objective: float
    sli: float | None  # good ratio over the window, None = no traffic
    error_ratio: float | None
    burn_rate: float | None
    requests: float | None
    sli_5m_now: float | None  # from slo:sli_error:ratio_rate5m, as a good ratio
    budget_spent: float | None  # 1 - slo:period_error_budget_remaining:ratio
    alert_fired: bool
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class Report:
    service: str
    window_seconds: int
    at: float
    slos: list[SloResult]
    fired: list[dict[str, str]]  # label sets of every alert that was firing at some point of the window
    active: list[dict[str, Any]]  # /api/v1/alerts now

    @property
    def ok(self) -> bool:
        return all(slo.ok for slo in self.slos)

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "ok": self.ok}, indent=2)


def sli_queries(slo: SLOSpec, window: str) -> tuple[str, str]:
    """The SLI's error and total queries over `window` (a raw SLI's ratio is its own total of 1)."""
    events = slo.sli.events
    error, total = (events.error_query, events.total_query) if events else (slo.sli.error_ratio_query(), "vector(1)")
    return error.replace(WINDOW_VARIABLE, window), total.replace(WINDOW_VARIABLE, window)


def assess(
    slo: SLOSpec,
    window_seconds: int,
    total: float | None,
    errors: float | None,
    now_5m: float | None,
    remaining: float | None,
    alert_fired: bool,
) -> SloResult:
    """One SLO's verdict from what Prometheus answered: total and errors are rates over the window."""
    problems = []
    error_ratio = sli = burn = None
    if not total:
        problems.append("no traffic in the window")
    else:
        error_ratio = (errors or 0.0) / total  # no error series: no errors
        sli = 1 - error_ratio
        burn = error_ratio / float(slo.error_budget)
        if sli < float(slo.objective_ratio):
            problems.append(f"SLI {sli:.4%} under the objective {slo.objective:g}%")
    if now_5m is None or remaining is None:
        problems.append("Sloth recording rules not evaluating (slo:sli_error:ratio_rate5m, ...)")
    if alert_fired:
        problems.append(f"alert {slo.alerting.name} fired")
    return SloResult(
        name=slo.name,
        objective=slo.objective,
        sli=sli,
        error_ratio=error_ratio,
        burn_rate=burn,
        requests=None if total is None else total * window_seconds,
        sli_5m_now=None if now_5m is None else 1 - now_5m,
        budget_spent=None if remaining is None else 1 - remaining,
        alert_fired=alert_fired,
        problems=problems,
    )


def build(prom: Prometheus, spec: Spec, window_seconds: int, at: float | None = None) -> Report:
    at = time.time() if at is None else at
    window = f"{window_seconds}s"
    fired_series = prom.query(f'max_over_time(ALERTS{{alertstate="firing"}}[{window}])', at)
    fired = [{k: v for k, v in s["metric"].items() if k != "__name__"} for s in fired_series]
    fired_names = {labels.get("alertname") for labels in fired}
    results = []
    for slo in spec.slos:
        error_query, total_query = sli_queries(slo, window)
        labels = f'{{sloth_service="{spec.service}", sloth_slo="{slo.name}"}}'
        results.append(
            assess(
                slo,
                window_seconds,
                total=prom.scalar(total_query, at),
                errors=prom.scalar(error_query, at),
                now_5m=prom.scalar(f"max(slo:sli_error:ratio_rate5m{labels})", at),
                remaining=prom.scalar(f"min(slo:period_error_budget_remaining:ratio{labels})", at),
                alert_fired=slo.alerting.name in fired_names,
            )
        )
    return Report(spec.service, window_seconds, at, results, fired, prom.alerts())


def _pct(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f}%"


def render(report: Report) -> str:
    rows = [("SLO", "objective", "SLI (run)", "burn rate", "~requests", "SLI 5m now", "budget spent", "verdict")]
    for s in report.slos:
        rows.append(
            (
                s.name,
                f"{s.objective:g}%",
                _pct(s.sli),
                "-" if s.burn_rate is None else f"{s.burn_rate:.2f}x",
                "-" if s.requests is None else f"{s.requests:,.0f}",
                _pct(s.sli_5m_now),
                _pct(s.budget_spent, 1),
                "ok" if s.ok else "BREACH",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [f"SLO report for {report.service} over the last {report.window_seconds}s (from Prometheus)"]
    lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines += [f"  {s.name}: {problem}" for s in report.slos for problem in s.problems]
    lines.append("alerts that fired in the window:" + ("" if report.fired else " none"))
    lines += [f"  {labels.get('alertname')} {labels}" for labels in report.fired]
    lines.append("alerts active now:" + ("" if report.active else " none"))
    lines += [f"  {a['labels'].get('alertname')} ({a['state']}) {a['labels']}" for a in report.active]
    lines.append("verdict: " + ("PASS: every SLO met" if report.ok else "BREACH"))
    return "\n".join(lines)
