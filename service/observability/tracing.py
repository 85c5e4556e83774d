"""Traces: a server span per sampled request and a child span around inference, configured by the OTEL_* variables.

The server span comes from `server_span.ServerSpans` (the stable HTTP semantic conventions; the head-sampling
decision before anything else); the service adds one child span around inference (`model.predict`, with the
model version and batch size) and puts the trace id in its request log line and, for sampled requests, as an
exemplar on the latency histogram.

Cost (bench/overhead.py and bench/instrument.py; docs/performance.md):
- Tracing is set up only when a trace exporter is configured (`OTEL_EXPORTER_OTLP_ENDPOINT` /
  `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or `OTEL_TRACES_EXPORTER` naming `otlp` or `console`), never with
  `OTEL_SDK_DISABLED=true` or SERVICE_INSTRUMENTATION=false: spans nobody receives buy nothing.
- The head-sampling decision for a request without a parent is taken first, from the same
  `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` (`head_sampling`); the SDK's sampler then keeps every root
  it is given. At 10% sampling a span costs a tenth. The price: a request that is not sampled has no trace id in
  its log line (it would name a trace that no backend has), and the ratio decision is random instead of a
  function of the trace id (the same in distribution; only cross-service consistency of unparented roots differs).
- A sampled server span is recorded by `recorded_span.SpanRecorder` and handed to the provider's processors as
  the SDK's ReadableSpan: much less CPU a sampled request than the SDK's Span (docs/performance.md).
- The inference child span is only opened when the request is sampled, and it is not made the current span
  (nothing runs inside it that would look it up): half the cost of a current span.
- Spans are encoded for OTLP by `otlp.encode_spans`, the library's message built in place; the resource's hash,
  which that encoder takes for every span by dumping the attributes to JSON, is computed once (`FixedResource`).
Resource (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`), propagators (`OTEL_PROPAGATORS`), exporter endpoint
and batching (`OTEL_BSP_*`) are the SDK's own handling of those variables.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, SynchronousMultiSpanProcessor, TracerProvider, sampling
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from starlette.applications import Starlette
from starlette.types import ASGIApp

from contract import routes
from service.observability.recorded_span import SpanRecorder
from service.observability.routes import static_paths
from service.observability.server_span import Sampling, ServerSpans
from service.observability.wrapping import wrap_stack

SERVICE_NAME = "insurance-charges"
SERVER_SCOPE = "service.observability.server_span"
#: Scrapes and probes make no traces.
EXCLUDED_PATHS = frozenset((routes.METRICS, routes.HEALTHZ, routes.READYZ))
_tracer = trace.get_tracer("service")


def exporters(env: Mapping[str, str] = os.environ) -> list[str]:
    """Which span exporters the OTEL_* variables ask for: "otlp", "console", or none."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    named = [e.strip().lower() for e in env.get("OTEL_TRACES_EXPORTER", "").split(",") if e.strip()]
    if "none" in named:
        return []
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    chosen = [e for e in named if e in ("otlp", "console")]
    if endpoint and "otlp" not in chosen and not named:
        chosen.append("otlp")
    return chosen


def _exporter(name: str, endpoint: str | None = None) -> SpanExporter:
    if name == "console":
        return ConsoleSpanExporter(out=sys.stderr)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    _encode_in_place()
    return OTLPSpanExporter(endpoint=endpoint)


def _encode_in_place() -> None:
    """The OTLP exporter with otlp.encode_spans (5x cheaper); its own encoder if that cannot load."""
    try:
        from service.observability import otlp
    except ImportError as exc:  # the exporter library's private helpers moved
        logging.getLogger(__name__).warning("OTLP exporter keeps its own span encoder: %s", exc)
        return
    otlp.install()


def head_sampling(env: Mapping[str, str] = os.environ) -> Sampling | None:
    """The head-sampling decision OTEL_TRACES_SAMPLER(_ARG) ask for: the ratio of roots, parent-based or not.

    None for a sampler this gate does not know (it is then left entirely to the SDK).
    """
    name = env.get("OTEL_TRACES_SAMPLER", "parentbased_always_on").strip().lower()
    parent_based = name.startswith("parentbased_")
    kind = name.removeprefix("parentbased_")
    if kind == "always_on":
        return Sampling(1.0, parent_based)
    if kind == "always_off":
        return Sampling(0.0, parent_based)
    if kind == "traceidratio":
        try:
            ratio = float(env.get("OTEL_TRACES_SAMPLER_ARG", "1.0"))
        except ValueError:
            ratio = 1.0
        return Sampling(min(max(ratio, 0.0), 1.0), parent_based)
    return None


class FixedResource(Resource):
    """A Resource that hashes once: the process's resource never changes after start-up."""

    def __init__(self, resource: Resource) -> None:
        super().__init__(resource.attributes, resource.schema_url)
        self._hash = super().__hash__()

    def __hash__(self) -> int:
        return self._hash


def overrides(sample_ratio: float | None, endpoint: str | None) -> dict[str, str]:
    """The OTEL_* variables that the instrumentation's settings stand for (SERVICE_TRACE_SAMPLE_RATIO,
    SERVICE_OTLP_ENDPOINT): set, they win over the environment's."""
    env: dict[str, str] = {}
    if sample_ratio is not None:
        env["OTEL_TRACES_SAMPLER"] = "parentbased_traceidratio"
        env["OTEL_TRACES_SAMPLER_ARG"] = repr(sample_ratio)
    if endpoint is not None:
        env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = endpoint.rstrip("/") + "/v1/traces"
    return env


def setup(
    app: Starlette,
    redact: bool = True,
    *,
    sample_ratio: float | None = None,
    endpoint: str | None = None,
    service_name: str = SERVICE_NAME,
) -> TracerProvider | None:
    """Trace the app's requests when an exporter is configured; returns the provider (to shut down) or None.

    `redact`: server spans carry neither the query string nor the client's address (server_span.py says why).
    `sample_ratio`, `endpoint` (an OTLP/HTTP base URL): as the instrumentation's settings say, over the OTEL_*
    variables. `service_name`: the resource's, unless OTEL_SERVICE_NAME names one."""
    chosen = overrides(sample_ratio, endpoint)
    env = {**os.environ, **chosen}
    names = exporters(env)
    if not names:
        return None
    gate = head_sampling(env)
    attributes: dict[str, Any] = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": service_name}
    options: dict[str, Any] = {"resource": FixedResource(Resource.create(attributes))}
    if gate is not None:
        # The gate takes the root decision: what reaches the SDK is to be kept.
        options["sampler"] = sampling.ParentBased(sampling.ALWAYS_ON) if gate.parent_based else sampling.ALWAYS_ON
    processor = SynchronousMultiSpanProcessor()  # (ours to hand the recorder's spans to: the provider's own)
    provider = TracerProvider(active_span_processor=processor, **options)
    endpoint_url = chosen.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    for name in names:
        provider.add_span_processor(BatchSpanProcessor(_exporter(name, endpoint_url)))
    trace.set_tracer_provider(provider)
    tracer = provider.get_tracer(SERVER_SCOPE)
    recorder = SpanRecorder(processor, provider, SERVER_SCOPE, SpanLimits())

    def server_spans(stack: ASGIApp) -> ASGIApp:
        static = static_paths(app.routes)  # (the routes are final once the stack is built)
        return ServerSpans(
            stack, tracer, gate, static=static, excluded=EXCLUDED_PATHS, details=not redact, recorder=recorder
        )

    # Outermost, around Starlette's ServerErrorMiddleware: the span covers whatever answers the request.
    wrap_stack(app, server_spans, outermost=True)
    return provider


def sampled() -> bool:
    """Whether the current request's trace is sampled (its spans are recorded)."""
    return trace.get_current_span().is_recording()


def inference_span(model_version: str, batch_size: int) -> contextlib.AbstractContextManager[Any]:
    """A child span around the model call, for a request whose trace is sampled (see `sampled`).

    An SDK span is its own context manager: it ends on exit and records an exception raised inside.
    """
    return _tracer.start_span(
        "model.predict", attributes={"model.version": model_version, "model.batch_size": batch_size}
    )


def span_ids(span: trace.Span) -> tuple[str | None, str | None, bool]:
    """(trace id, span id, sampled) of a span, hex as in W3C trace context; Nones for an invalid one."""
    context = span.get_span_context()
    if not context.is_valid:
        return None, None, False
    return format(context.trace_id, "032x"), format(context.span_id, "016x"), context.trace_flags.sampled
