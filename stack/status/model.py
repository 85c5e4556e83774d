"""The status model: the stack's processes, traffic, latency, SLOs and alerts at one moment, read from the run's
Prometheus (stack.prometheus's client) and the processes themselves. No rendering here (stack.status.render).

Every figure is a Reading: a number, or a Gap saying why there is none. A query that fails (Prometheus down,
slow, refusing) is Gap.FAILED ("n/a") for what it feeds and never an exception; a query with no series or NaN
(no traffic in the window: 0/0) is Gap.NO_DATA. Rates are sums, so no series is 0 requests/s, not a gap.

What is read:
- traffic over the rate window, by outcome: the service's prediction routes by status class (2xx, 4xx, 5xx);
  the client (the loadgen) by status class and transport error kind, with the requests it dropped;
- p50 and p99 of the service's and the client's latency histograms over the same window;
- per SLO of the spec (any number, any spec): the SLI now (5m) and over the period, the budget remaining and
  the burn rate now, from the generated recording rules (generators.prometheus.slo_rules's names);
- active alerts (/api/v1/alerts), firing and pending.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.client import HTTPException
from pathlib import Path
from typing import Any

from contract import metrics as m
from generators.prometheus.slo_rules import sli_error_metric
from slo.spec import Spec
from slo.windows import PERIOD_SECONDS, SLI_WINDOWS, prom_duration
from stack.processes import answers
from stack.prometheus import Prometheus, PrometheusError
from stack.server_series import OURS, ServerSeries


class Gap(enum.Enum):
    """Why a figure has no number."""

    NO_DATA = "no data"  # asked and answered: nothing to compute from (no traffic, no series, NaN)
    FAILED = "n/a"  # could not ask: Prometheus did not answer or refused the query


Reading = float | Gap

#: A query's answer: its series, or FAILED.
Answer = list[dict[str, Any]] | Gap

SLI_NOW = sli_error_metric(SLI_WINDOWS[0])
SLI_PERIOD = sli_error_metric(PERIOD_SECONDS)
BUDGET_REMAINING = "slo:period_error_budget_remaining:ratio"
BURN_NOW = "slo:current_burn_rate:ratio"
#: Every recording rule the status reads (a unit test checks the generated rules define each).
RECORDINGS = (SLI_NOW, SLI_PERIOD, BUDGET_REMAINING, BURN_NOW)

CLIENT = f'job="{m.LOADGEN_JOB}"'
QUANTILES = (0.5, 0.99)


def queries(window: str, server: ServerSeries = OURS) -> dict[str, str]:
    """Name -> PromQL of everything the status asks Prometheus, rates over `window` (e.g. "1m"); the server's
    requests as `server` counts them."""

    def quantile(q: float, buckets: str) -> str:
        return f"histogram_quantile({q}, sum by (le) (rate({buckets}[{window}])))"

    asked = {
        "service_by_status": server.by_status(window),
        "client_by_outcome": f"sum by (outcome) (rate({m.LOADGEN_REQUESTS.name}{{{CLIENT}}}[{window}]))",
        "client_dropped": f"sum(rate({m.LOADGEN_DROPPED.name}{{{CLIENT}}}[{window}]))",
        "client_target": f"sum({m.LOADGEN_TARGET_RATE.name}{{{CLIENT}}})",
    }
    for q in QUANTILES:
        if server.buckets is not None:
            asked[f"service_p{q * 100:g}"] = quantile(q, server.buckets)
        asked[f"client_p{q * 100:g}"] = quantile(q, f"{m.LOADGEN_REQUEST_DURATION.name}_bucket{{{CLIENT}}}")
    for name in RECORDINGS:
        asked[name] = name
    return asked


@dataclass(frozen=True)
class Watched:
    """A process of the stack as the status shows it."""

    name: str
    address: str  # where it listens (http://host:port)
    ready_url: str  # answers 200 once it is ready
    log: Path


@dataclass(frozen=True)
class ProcessState:
    name: str
    state: str  # "up" (running and answering), "starting" (running, not answering yet), "down"
    pid: int | None
    address: str
    log: Path


@dataclass(frozen=True)
class Traffic:
    """One side's requests per second by outcome, and its latency (seconds)."""

    by_outcome: dict[str, float] | Gap  # "2xx", "4xx", "5xx", ... and transport error kinds ("timeout", ...)
    p50: Reading
    p99: Reading
    dropped: Reading | None = None  # None: the side cannot drop (the service)
    target: Reading | None = None  # None: the side has no target rate (the service)

    @property
    def total(self) -> Reading:
        return self.by_outcome if isinstance(self.by_outcome, Gap) else sum(self.by_outcome.values())

    @property
    def transport_errors(self) -> dict[str, float] | Gap:
        """The outcomes that are no HTTP status: the connection failed, timed out, was reset..."""
        if isinstance(self.by_outcome, Gap):
            return self.by_outcome
        return {k: v for k, v in self.by_outcome.items() if not is_status_class(k)}


@dataclass(frozen=True)
class SloState:
    service: str
    name: str
    objective: float  # the good ratio the SLO promises (0.999)
    sli_now: Reading  # good ratio over the shortest window (5m)
    sli_period: Reading  # good ratio over the period (30d) so far
    budget_remaining: Reading  # 1.0: all of it; negative: overspent
    burn_now: Reading  # budget burn rate over the shortest window


@dataclass(frozen=True)
class Alert:
    name: str
    state: str  # "firing" or "pending"
    severity: str
    slo: str  # its sloth_slo label ("" for an operational alert)
    since: str  # activeAt, as Prometheus says it


@dataclass(frozen=True)
class Status:
    at: float  # Unix seconds when it was read
    uptime: float  # seconds since the stack was ready
    window: str  # the rate window, e.g. "1m"
    processes: list[ProcessState]
    client: Traffic
    service: Traffic
    slos: list[SloState]
    alerts: list[Alert] | Gap
    links: dict[str, str] = field(default_factory=dict)  # what -> URL
    logs: Path | None = None
    #: What the server side is called on the screen; None: nothing scrapes one (a target without metrics).
    service_side: str | None = "service"

    @property
    def firing(self) -> list[Alert] | Gap:
        return self.alerts if isinstance(self.alerts, Gap) else [a for a in self.alerts if a.state == "firing"]


def is_status_class(outcome: str) -> bool:
    return len(outcome) == 3 and outcome[0].isdigit() and outcome.endswith("xx")


def outcome_group(outcome: str) -> str:
    """A status code's class ("503" -> "5xx"); anything else (a transport error kind) stays itself."""
    return f"{outcome[0]}xx" if outcome[:1].isdigit() else outcome


def value(series: dict[str, Any]) -> float:
    return float(series["value"][1])  # Prometheus writes "NaN", "+Inf" and numbers as strings


def single(answer: Answer) -> Reading:
    """The one value of an instant query: NO_DATA when it has no series or is NaN."""
    if isinstance(answer, Gap):
        return answer
    values = [v for v in map(value, answer) if not math.isnan(v)]
    return values[0] if values else Gap.NO_DATA


def total(answer: Answer) -> Reading:
    """A sum of rates: no series is none at all, 0 requests/s."""
    if isinstance(answer, Gap):
        return answer
    return sum(v for v in map(value, answer) if not math.isnan(v))


def grouped(answer: Answer, label: str | None) -> dict[str, float] | Gap:
    """Rates by `label`, status codes gathered into classes (no label: every request is "all")."""
    if isinstance(answer, Gap):
        return answer
    out: dict[str, float] = {}
    for series in answer:
        v = value(series)
        if not math.isnan(v):
            key = outcome_group(series["metric"].get(label, "?")) if label else "all"
            out[key] = out.get(key, 0.0) + v
    return out


def by_slo(answer: Answer) -> dict[tuple[str, str], float] | Gap:
    """A recording rule's values by (sloth_service, sloth_slo); NaN dropped (no traffic: no data)."""
    if isinstance(answer, Gap):
        return answer
    out = {}
    for series in answer:
        labels, v = series["metric"], value(series)
        if not math.isnan(v):
            out[(labels.get("sloth_service", ""), labels.get("sloth_slo", ""))] = v
    return out


def pick(values: dict[tuple[str, str], float] | Gap, key: tuple[str, str], good: bool = False) -> Reading:
    """One SLO's value from a by_slo map; `good` turns an error ratio into a good ratio."""
    if isinstance(values, Gap):
        return values
    if key not in values:
        return Gap.NO_DATA
    return 1.0 - values[key] if good else values[key]


def slo_states(specs: Sequence[Spec], answers: Mapping[str, Answer]) -> list[SloState]:
    now, period = by_slo(answers[SLI_NOW]), by_slo(answers[SLI_PERIOD])
    budget, burn = by_slo(answers[BUDGET_REMAINING]), by_slo(answers[BURN_NOW])
    return [
        SloState(
            service=spec.service,
            name=slo.name,
            objective=float(slo.objective_ratio),
            sli_now=pick(now, (spec.service, slo.name), good=True),
            sli_period=pick(period, (spec.service, slo.name), good=True),
            budget_remaining=pick(budget, (spec.service, slo.name)),
            burn_now=pick(burn, (spec.service, slo.name)),
        )
        for spec in specs
        for slo in spec.slos
    ]


def alerts(raw: list[dict[str, Any]]) -> list[Alert]:
    """Active alerts, firing first, then by name."""
    found = [
        Alert(
            name=a["labels"].get("alertname", "?"),
            state=a.get("state", "?"),
            severity=a["labels"].get("severity", ""),
            slo=a["labels"].get("sloth_slo", ""),
            since=a.get("activeAt", ""),
        )
        for a in raw
    ]
    return sorted(found, key=lambda a: (a.state != "firing", a.name, a.slo, a.severity))


def ask(prom: Prometheus, expr: str) -> Answer:
    try:
        return prom.query(expr)
    except (PrometheusError, OSError, HTTPException, ValueError, KeyError):  # down, refusing, cut off, not its JSON
        return Gap.FAILED


def ask_alerts(prom: Prometheus) -> list[Alert] | Gap:
    try:
        return alerts(prom.alerts())
    except (PrometheusError, OSError, HTTPException, ValueError, KeyError):
        return Gap.FAILED


def process_states(
    watched: Sequence[Watched], pid: Callable[[str], int | None], ready: Mapping[str, bool]
) -> list[ProcessState]:
    def state(w: Watched) -> str:
        if pid(w.name) is None:
            return "down"
        return "up" if ready[w.name] else "starting"

    return [ProcessState(w.name, state(w), pid(w.name), w.address, w.log) for w in watched]


@dataclass(frozen=True)
class Source:
    """Where the status comes from: the run's Prometheus, the spec, the processes."""

    prometheus: Prometheus
    specs: Sequence[Spec]
    watched: Sequence[Watched]
    pid: Callable[[str], int | None]
    window: float  # seconds of the rate window once the stack has run that long
    shortest: float  # seconds of the shortest rate window (a rate needs two scrapes in it)
    links: dict[str, str] = field(default_factory=dict)
    logs: Path | None = None
    service_side: str | None = "service"  # Status.service_side
    #: The server's request series (the spec's: stack.server_series); none, with no server side to show.
    server: ServerSeries = OURS


def rate_window(source: Source, uptime: float) -> str:
    """The rate window, no longer than the stack has run: a 1m rate over 12 s of counters would read
    12/60 of the true rate (Prometheus divides the increase it sees by the whole range)."""
    return prom_duration(max(source.shortest, min(source.window, math.floor(uptime))))


def fetch(source: Source, started: float, now: Callable[[], float] = time.time) -> Status:
    """Read everything at once: the queries, the alerts and the readiness probes run side by side, so one
    slow answer costs one timeout, not one per question."""
    window = rate_window(source, now() - started)
    asked = queries(window, source.server)
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="stack-status") as pool:
        futures = {name: pool.submit(ask, source.prometheus, expr) for name, expr in asked.items()}
        alert_future = pool.submit(ask_alerts, source.prometheus)
        probes = {w.name: pool.submit(answers, w.ready_url) for w in source.watched}
        got = {name: f.result() for name, f in futures.items()}
        ready = {name: f.result() for name, f in probes.items()}
        active = alert_future.result()
    at = now()
    return Status(
        at=at,
        uptime=max(0.0, at - started),
        window=window,
        processes=process_states(source.watched, source.pid, ready),
        client=Traffic(
            by_outcome=grouped(got["client_by_outcome"], "outcome"),
            p50=single(got["client_p50"]),
            p99=single(got["client_p99"]),
            dropped=total(got["client_dropped"]),
            target=single(got["client_target"]),
        ),
        service=Traffic(
            by_outcome=grouped(got["service_by_status"], source.server.status_label),
            p50=single(got.get("service_p50", Gap.NO_DATA)),
            p99=single(got.get("service_p99", Gap.NO_DATA)),
        ),
        slos=slo_states(source.specs, got),
        alerts=active,
        links=dict(source.links),
        logs=source.logs,
        service_side=source.service_side,
    )
