"""Service: the RED signals of the prediction service, its admission and its processes: what `instrument(app)`
(service/instrument.py) writes for any app; the model's own inference cost is on the model's dashboard."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db

from contract import admission
from contract import metrics as m
from generators.grafana import panels as p
from generators.grafana.panels import RATE
from slo.spec import Spec, SpecError

SVC = f'job="{m.SERVICE_JOB}"'
SEL = f'{SVC}, instance=~"$instance", route=~"$route"'
REQ = m.REQUEST_DURATION.name


def check_admission_default(spec: Spec) -> None:
    """The service's default admission bound is derived from contract/admission.py's copy of the strictest
    latency threshold (the service may not read the spec): refuse a spec whose strictest threshold differs."""
    found = [s.latency_threshold_seconds for s in spec.slos if s.latency_threshold_seconds is not None]
    if found and min(found) != admission.STRICTEST_LATENCY_SLO_SECONDS:
        raise SpecError(
            f"the strictest latency SLO threshold is {min(found):g} s but contract/admission.py's "
            f"STRICTEST_LATENCY_SLO_SECONDS is {admission.STRICTEST_LATENCY_SLO_SECONDS:g}: update it"
        )


def build(spec: Spec) -> db.Dashboard:
    slo_lines = p.latency_slo_lines(spec)
    proc = f'{SVC}, instance=~"$instance"'
    return (
        p.dashboard(
            "Prediction service",
            "prediction-service",
            "Request rate, errors and latency of the prediction service; admission; processes.",
            ["service", "red"],
            "now-1h",
            "30s",
        )
        .with_variable(p.label_variable("instance", "Instance", f"up{{{SVC}}}", "instance"))
        .with_variable(p.label_variable("route", "Route", f"{REQ}_count{{{SVC}}}", "route"))
        .with_row(p.row("Requests"))
        .with_panel(
            p.timeseries_panel(
                "Request rate by route and status",
                "Requests per second answered, by route template and HTTP status code.",
                [(f"sum by (route, status_code) (rate({REQ}_count{{{SEL}}}[{RATE}]))", "{{route}} {{status_code}}")],
                "reqps",
            )
        )
        .with_panel(
            p.timeseries_panel(
                "Error ratio (5xx)",
                "Share of requests answered with a 5xx status (what the availability SLO counts as bad).",
                [
                    (
                        f'(sum(rate({REQ}_count{{{SEL}, status_code=~"5.."}}[{RATE}])) or on() vector(0))'
                        f" / sum(rate({REQ}_count{{{SEL}}}[{RATE}]))",
                        "5xx ratio",
                    )
                ],
                "percentunit",
                minimum=0,
            )
        )
        .with_panel(
            p.timeseries_panel(
                "Latency percentiles",
                "p50, p90 and p99 request latency from the server-side histogram; dashed: the latency SLO "
                f"thresholds, {p.in_words(slo_lines)}.",
                [(p.quantile(q, REQ, SEL), f"p{round(q * 100)}") for q in (0.5, 0.9, 0.99)],
                "s",
                lines=slo_lines,
            )
        )
        .with_panel(
            p.heatmap_panel(
                "Latency heatmap",
                "Requests per latency bucket over time; dots are exemplars, each linked to its request's trace.",
                f"sum by (le) (rate({REQ}_bucket{{{SEL}}}[{RATE}]))",
                "s",
            )
        )
        .with_panel(
            p.timeseries_panel(
                "In flight",
                "Requests being served right now, summed over workers.",
                [(f"sum({m.IN_FLIGHT.name}{{{proc}}})", "in flight")],
                "short",
                width=8,
            )
        )
        .with_panel(
            p.timeseries_panel(
                "Shed requests",
                "Predictions answered 503 at once because they would have waited over the admission bound, per "
                "second. Zero is the normal state.",
                [(f"sum(rate({m.SHED.name}{{{proc}}}[{RATE}])) or on() vector(0)", "shed")],
                "reqps",
                width=8,
                minimum=0,
            )
        )
        .with_panel(
            p.timeseries_panel(
                "Injected faults",
                "Faults injected on purpose for alert drills (POST /admin/faults), per second, by kind.",
                [
                    (
                        f"sum by (kind) (rate({m.FAULTS_INJECTED.name}{{{proc}}}[{RATE}])) or on() vector(0)",
                        "{{kind}}",
                    )
                ],
                "reqps",
                width=8,
                minimum=0,
            )
        )
        .with_row(p.row("Overload"))
        .with_panel(
            p.timeseries_panel(
                "Queue delay",
                "p50 and p99 of the wait between a request's arrival in a worker and its start, and the admission "
                "bound (SERVICE_MAX_QUEUE_DELAY_MS): a prediction predicted to wait longer is shed (503). Near zero "
                "is the normal state; a p99 at the bound means the worker is overloaded and shedding.",
                [
                    *[(p.quantile(q, m.QUEUE_DELAY.name, SEL), f"p{round(q * 100)}") for q in (0.5, 0.99)],
                    (f"max({m.ADMISSION_LIMIT.name}{{{proc}}})", "bound"),
                ],
                "s",
                width=8,
                minimum=0,
            )
        )
        .with_panel(
            p.timeseries_panel(
                "Not predicted: client gone or deadline passed",
                "Requests not predicted because the client disconnected (499) or its X-Request-Timeout passed (504), "
                "per second, by reason. Work the service did not do for nobody.",
                [
                    (
                        f"sum by (reason) (rate({m.ABANDONED.name}{{{SEL}}}[{RATE}])) or on() vector(0)",
                        "{{reason}}",
                    )
                ],
                "reqps",
                width=8,
                minimum=0,
            )
        )
        .with_panel(
            p.timeseries_panel(
                "Read timeouts (408)",
                "Requests whose head or body did not arrive in time (SERVICE_HEADER_TIMEOUT_SECONDS, "
                "SERVICE_BODY_TIMEOUT_SECONDS), per second, by phase: slow or stalled clients.",
                [
                    (
                        f"sum by (phase) (rate({m.READ_TIMEOUTS.name}{{{proc}}}[{RATE}])) or on() vector(0)",
                        "{{phase}}",
                    )
                ],
                "reqps",
                width=8,
                minimum=0,
            )
        )
        .with_row(p.row("Processes"))
        .with_panel(
            p.timeseries_panel(
                "CPU per instance",
                "CPU time used per second (1 = one full core), per instance.",
                [(f"sum by (instance) (rate(process_cpu_seconds_total{{{proc}}}[{RATE}]))", "{{instance}}")],
                "percentunit",
            )
        )
        .with_panel(
            p.timeseries_panel(
                "Memory per instance",
                "Resident memory per instance (all workers together). It should stay flat in a soak test.",
                [(f"sum by (instance) (process_resident_memory_bytes{{{proc}}})", "{{instance}}")],
                "bytes",
            )
        )
    )
