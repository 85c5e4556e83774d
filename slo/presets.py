"""What `python -m slo init` knows about other servers' metrics: one preset per kind of target.

A preset names the series its SLIs read (the request histogram, its route and status labels and its bucket
boundaries, exactly as the target writes its `le` labels; the request counter when availability reads one), the
scrape job its selectors use by default, and what it cannot measure exactly. The names below were read from real
/metrics pages, not from documentation:

- fastapi-instrumentator: prometheus-fastapi-instrumentator 8.1.0 (prometheus-client 0.26.0, fastapi 0.165.0,
  starlette 1.10.0), `Instrumentator().instrument(app).expose(app)` on a two-route app in /tmp/pfi-venv, served by
  `uvicorn app:app`, read with `curl 127.0.0.1:PORT/metrics` after a 200 and a 500:
  `http_requests_total{handler, method, status}` (status grouped: "2xx", "5xx"),
  `http_request_duration_seconds{handler, method, le}` (le 0.1, 0.5, 1.0: NO status label),
  `http_request_duration_highr_seconds{le}` (no label at all), `http_request_size_bytes`/`http_response_size_bytes`
  (summaries by handler).
- bentoml: BentoML 1.4.40 (prometheus-client 0.26.0, opentelemetry-sdk 1.45.1), a one-API `@bentoml.service` in
  /tmp/bento-venv, `bentoml serve service:Tiny`, `curl 127.0.0.1:PORT/metrics` after a 200, a 400 and a 500:
  `bentoml_service_request_duration_seconds{endpoint, http_response_code, runner_name, service_name,
  service_version, le}` (le 0.005 ... 180.0), `bentoml_service_request_total{endpoint, http_response_code, ...}`,
  `bentoml_service_request_in_progress{endpoint, ...}`, `bentoml_service_last_request_timestamp_seconds`.
- otel: opentelemetry-instrumentation-fastapi 0.66b2 with opentelemetry-exporter-prometheus 0.66b2
  (opentelemetry-sdk 1.45.2), `OTEL_SEMCONV_STABILITY_OPT_IN=http`, `FastAPIInstrumentor.instrument_app(app)`, the
  exporter's /metrics: `http_server_request_duration_seconds{http_route, http_response_status_code,
  http_request_method, error_type, url_scheme, network_protocol_version, otel_scope_*, le}` with the semantic
  conventions' advisory buckets, written `le="1"` (not "1.0": the exporter formats whole numbers without a
  decimal point), and `http_server_active_requests`.
- service and loadgen: this project's own metrics (contract/metrics.py, contract/buckets.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from contract import metrics
from contract.buckets import LATENCY_SECONDS


@dataclass(frozen=True)
class Histogram:
    name: str
    route_label: str
    #: None: the histogram has no status label, so a latency SLI cannot tell a failed answer from a good one.
    status_label: str | None
    #: Bucket boundaries as the target writes its `le` labels (without +Inf).
    buckets: tuple[str, ...]
    #: Whether the spec states the boundaries (`x-buckets`); ours are the contract's, which the loader knows.
    declared: bool = True


@dataclass(frozen=True)
class Counter:
    """A request counter with a status label, read by availability when the histogram has no status label."""

    name: str
    route_label: str
    status_label: str


@dataclass(frozen=True)
class Preset:
    name: str
    #: One line for `--help`.
    summary: str
    #: The scrape job the selectors name by default (stack up scrapes a target under this job).
    job: str
    histogram: Histogram
    counter: Counter | None = None
    #: A client-side preset: the load generator's own SLIs (see slo.init).
    client: bool = False

    @property
    def limitation(self) -> str | None:
        """What this preset's latency SLIs cannot compute exactly, and what they do instead (one line)."""
        if self.client or self.histogram.status_label is not None:
            return None
        return (
            f"{self.name}: {self.histogram.name} has no status label, so the latency SLIs cannot tell a failed "
            "answer from a good one: they count every answer within the threshold as good, a fast 5xx included "
            f"(the availability SLO counts those failures, from {self.counter.name if self.counter else 'its counter'})"
        )


_OURS = tuple(metrics.le_text(b) for b in LATENCY_SECONDS)
#: OpenTelemetry's advisory buckets for http.server.request.duration, as its Prometheus exporter writes them.
_OTEL = ("0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.25", "0.5", "0.75", "1", "2.5", "5", "7.5",
         "10")  # fmt: skip
#: BentoML's request duration buckets, as /metrics showed them.
_BENTOML = ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "30.0", "60.0",
            "120.0", "180.0")  # fmt: skip

PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            "service",
            "this project's prediction service (its request histogram, contract/metrics.py)",
            metrics.SERVICE_JOB,
            Histogram(metrics.REQUEST_DURATION.name, "route", "status_code", _OURS, declared=False),
        ),
        Preset(
            "otel",
            "OpenTelemetry HTTP semantic conventions as Prometheus names them (http_server_request_duration_seconds)",
            metrics.SERVICE_JOB,
            Histogram(
                "http_server_request_duration_seconds",
                "http_route",
                "http_response_status_code",
                _OTEL,
            ),
        ),
        Preset(
            "fastapi-instrumentator",
            "prometheus-fastapi-instrumentator's default metrics (its latency histogram has no status label)",
            metrics.SERVICE_JOB,
            Histogram("http_request_duration_seconds", "handler", None, ("0.1", "0.5", "1.0")),
            Counter("http_requests_total", "handler", "status"),
        ),
        Preset(
            "bentoml",
            "BentoML's service metrics (bentoml_service_request_duration_seconds)",
            metrics.SERVICE_JOB,
            Histogram(
                "bentoml_service_request_duration_seconds",
                "endpoint",
                "http_response_code",
                _BENTOML,
            ),
        ),
        Preset(
            "loadgen",
            "the load generator's client-side metrics: for any target, with or without metrics of its own",
            metrics.LOADGEN_JOB,
            Histogram(metrics.LOADGEN_REQUEST_DURATION.name, "route", None, _OURS, declared=False),
            Counter(metrics.LOADGEN_REQUESTS.name, "route", "outcome"),
            client=True,
        ),
    )
}
