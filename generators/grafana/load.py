"""Load: what the synthetic traffic asked for, what it sent, and how both sides saw the latency."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db

from generators.grafana import panels as p
from generators.grafana.panels import RATE

LG = 'job="loadgen", instance=~"$loadgen"'


def _quantiles(metric: str, sel: str, side: str) -> list[p.Query]:
    return [(p.quantile(q, metric, sel), f"{side} p{round(q * 100)}") for q in (0.5, 0.99)]


def build() -> db.Dashboard:
    svc = 'job="service", route=~"$route"'
    return (
        p.dashboard(
            "Synthetic load",
            "synthetic-load",
            "The load generator: target vs sent vs dropped, client vs server latency, outcomes.",
            ["load", "loadgen"],
            "now-1h",
            "30s",
        )
        .with_variable(p.label_variable("loadgen", "Load generator", 'up{job="loadgen"}', "instance"))
        .with_variable(p.label_variable("route", "Route", 'loadgen_requests_total{job="loadgen"}', "route"))
        .with_panel(
            p.timeseries_panel(
                "Target vs sent vs dropped",
                "Requests per second: the schedule's target, what was sent, and what was dropped because the "
                "in-flight bound was reached (the target is slower than the load). Dropped should be zero.",
                [
                    (f"sum(loadgen_target_requests_per_second{{{LG}}})", "target"),
                    (f"sum(rate(loadgen_scheduled_total{{{LG}}}[{RATE}]))", "scheduled"),
                    (f"sum(rate(loadgen_sent_total{{{LG}}}[{RATE}]))", "sent"),
                    (f"sum(rate(loadgen_dropped_total{{{LG}}}[{RATE}])) or on() vector(0)", "dropped"),
                ],
                "reqps",
                width=12,
            )
        )
        .with_panel(
            p.timeseries_panel(
                "In flight (client)",
                "Requests the load generator has sent and not yet seen answered.",
                [(f"sum(loadgen_in_flight{{{LG}}})", "in flight")],
                "short",
                width=12,
            )
        )
        .with_panel(
            p.timeseries_panel(
                "Latency: client vs server",
                "p50 and p99 latency as the load generator saw it (from the scheduled start, so queueing counts) "
                "beside the service's own histogram. A gap means time lost in the network or in queues.",
                [
                    *_quantiles("loadgen_request_duration_seconds", f'{LG}, route=~"$route"', "client"),
                    *_quantiles("http_server_request_duration_seconds", svc, "server"),
                ],
                "s",
                width=24,
                lines=[(0.1, "orange"), (0.5, "red")],
            )
        )
        .with_panel(
            p.timeseries_panel(
                "Outcomes by kind",
                "Answers per second by HTTP status code, and transport errors by kind (timeout, connect, other).",
                [(f'sum by (outcome) (rate(loadgen_requests_total{{{LG}, route=~"$route"}}[{RATE}]))', "{{outcome}}")],
                "reqps",
                width=24,
            )
        )
    )
