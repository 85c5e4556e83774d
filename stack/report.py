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
import math
import time
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from slo import spec as slo_spec


@dataclass(frozen=True)
class Slo:
    name: str
    objective: float  # percent, as in the spec
    error_query: str  # with Sloth's {{.window}} placeholder
    total_query: str
    alert: str | None

    @property
    def budget(self) -> float:
        return 1 - self.objective / 100


@dataclass(frozen=True)
class Spec:
    service: str
    slos: list[Slo]


def load_spec(path: Path) -> Spec:
    """The SLOs of the spec (read and checked by the slo package), with the queries the report runs."""
    spec = slo_spec.load_spec(path)
    slos = []
    for raw in spec.slos:
        if raw.sli.events is not None:
            error, total = raw.sli.events.error_query, raw.sli.events.total_query
        else:
            error, total = raw.sli.error_ratio_query(), "vector(1)"
        slos.append(Slo(raw.name, raw.objective, error, total, raw.alerting.name if raw.alerting else None))
    return Spec(spec.service, slos)


class Prometheus:
    """The few calls of Prometheus's HTTP API the report needs."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _get(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=self.timeout) as response:
            body = json.load(response)
        if body.get("status") != "success":
            raise RuntimeError(f"Prometheus {path}: {body.get('error', body)}")
        return body["data"]

    def query(self, expr: str, at: float) -> list[dict[str, Any]]:
        return self._get("/api/v1/query", query=expr, time=f"{at:.3f}")["result"]

    def scalar(self, expr: str, at: float) -> float | None:
        """The single value of an instant query, or None when it returns no series (or NaN)."""
        result = self.query(expr, at)
        if not result:
            return None
        value = float(result[0]["value"][1])
        return None if math.isnan(value) else value

    def active_alerts(self) -> list[dict[str, Any]]:
        return self._get("/api/v1/alerts")["alerts"]


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


def _windowed(query: str, window: str) -> str:
    return query.replace("{{.window}}", window).replace("{{ .window }}", window)


def build(prom: Prometheus, spec: Spec, window_seconds: int, at: float | None = None) -> Report:
    at = time.time() if at is None else at
    window = f"{window_seconds}s"
    selector = f'sloth_service="{spec.service}"'
    fired_series = prom.query(f'max_over_time(ALERTS{{alertstate="firing"}}[{window}])', at)
    fired = [{k: v for k, v in s["metric"].items() if k != "__name__"} for s in fired_series]
    fired_names = {labels.get("alertname") for labels in fired}
    results = []
    for slo in spec.slos:
        problems = []
        total = prom.scalar(_windowed(slo.total_query, window), at)
        errors = prom.scalar(_windowed(slo.error_query, window), at) or 0.0  # no error series: no errors
        if not total:
            error_ratio = sli = burn = None
            problems.append("no traffic in the window")
        else:
            error_ratio = errors / total
            sli = 1 - error_ratio
            burn = error_ratio / slo.budget
            if sli < slo.objective / 100:
                problems.append(f"SLI {sli:.4%} under the objective {slo.objective}%")
        labels = f'{{{selector}, sloth_slo="{slo.name}"}}'
        now_5m = prom.scalar(f"max(slo:sli_error:ratio_rate5m{labels})", at)
        remaining = prom.scalar(f"min(slo:period_error_budget_remaining:ratio{labels})", at)
        if now_5m is None or remaining is None:
            problems.append("Sloth recording rules not evaluating (slo:sli_error:ratio_rate5m, ...)")
        alert_fired = slo.alert is not None and slo.alert in fired_names
        if alert_fired:
            problems.append(f"alert {slo.alert} fired")
        results.append(
            SloResult(
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
        )
    return Report(spec.service, window_seconds, at, results, fired, prom.active_alerts())


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
