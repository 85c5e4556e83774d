"""Load: what the synthetic traffic asked for, what it sent, and how both sides saw the latency."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db

from contract import metrics as m
from generators.grafana import panels as p
from generators.grafana.panels import RATE
from slo.reads import reads
from slo.spec import Spec

JOB = f'job="{m.LOADGEN_JOB}"'
LG = f'{JOB}, instance=~"$loadgen"'


def _quantiles(metric: str, sel: str, side: str) -> list[p.Query]:
    return [(p.quantile(q, metric, sel), f"{side} p{round(q * 100)}") for q in (0.5, 0.99)]


def server_side(spec: Spec) -> list[p.Query]:
    """The server's own latency quantiles, from the histogram the spec's first server-side latency SLI reads (its
    job and route label as the spec selects them); none when the spec has no such SLI (a target without metrics)."""
    for found in map(reads, spec.slos):
        family = found.latency_family
        if family is not None and not found.client:
            job = f'job="{found.job}"' if found.job else ""
            route = f'{found.route_label}=~"$route"' if found.route_label else ""
            return _quantiles(family.name, ", ".join(s for s in (job, route) if s), "server")
    return []


def build(spec: Spec) -> db.Dashboard:
    server = server_side(spec)
    return (
        p.dashboard(
            "Synthetic load",
            "synthetic-load",
            "The load generator: target vs sent vs dropped, client vs server latency, outcomes.",
            ["load", "loadgen"],
            "now-1h",
            "30s",
        )
        .with_variable(p.label_variable("loadgen", "Load generator", f"up{{{JOB}}}", "instance"))
        .with_variable(p.label_variable("route", "Route", f"{m.LOADGEN_REQUESTS.name}{{{JOB}}}", "route"))
        .with_panel(
            p.timeseries_panel(
                "Target vs sent vs dropped",
                "Requests per second: the schedule's target, what was sent, and what was dropped because the "
                "in-flight bound was reached (the target is slower than the load). Dropped should be zero.",
                [
                    (f"sum({m.LOADGEN_TARGET_RATE.name}{{{LG}}})", "target"),
                    (f"sum(rate({m.LOADGEN_SCHEDULED.name}{{{LG}}}[{RATE}]))", "scheduled"),
                    (f"sum(rate({m.LOADGEN_SENT.name}{{{LG}}}[{RATE}]))", "sent"),
                    (f"sum(rate({m.LOADGEN_DROPPED.name}{{{LG}}}[{RATE}])) or on() vector(0)", "dropped"),
                ],
                "reqps",
                width=12,
            )
        )
        .with_panel(
            p.timeseries_panel(
                "In flight (client)",
                "Requests the load generator has sent and not yet seen answered.",
                [(f"sum({m.LOADGEN_IN_FLIGHT.name}{{{LG}}})", "in flight")],
                "short",
                width=12,
            )
        )
        .with_panel(
            p.timeseries_panel(
                "Latency: client vs server",
                "p50 and p99 latency as the load generator saw it (from the scheduled start, so queueing counts) "
                + (
                    "beside the service's own histogram. A gap means time lost in the network or in queues."
                    if server
                    else "(the SLO spec reads no latency histogram of the target's own)."
                ),
                [*_quantiles(m.LOADGEN_REQUEST_DURATION.name, f'{LG}, route=~"$route"', "client"), *server],
                "s",
                width=24,
                lines=p.latency_slo_lines(spec),
            )
        )
        .with_panel(
            p.timeseries_panel(
                "Outcomes by kind",
                "Answers per second by HTTP status code, and transport errors by kind (timeout, connect, other).",
                [
                    (
                        f'sum by (outcome) (rate({m.LOADGEN_REQUESTS.name}{{{LG}, route=~"$route"}}[{RATE}]))',
                        "{{outcome}}",
                    )
                ],
                "reqps",
                width=24,
            )
        )
    )
