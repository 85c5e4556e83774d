"""Traces: OpenTelemetry's FastAPI instrumentation, configured from the standard OTEL_* variables.

The server span comes from opentelemetry-instrumentation-fastapi; the service adds one child span
around inference (`model.predict`, with the model version and batch size) and puts the trace id
in its request log line and, for sampled requests, as an exemplar on the latency histogram.

Cost. The FastAPI instrumentation's middleware costs about as much as the rest of the request
(route matching again for the span name, attribute dictionaries, a non-recording span, wrapped
send/receive) even for requests it does not sample; measured with bench/overhead.py (README,
Performance). So:
- It is installed only when a trace exporter is configured (`OTEL_EXPORTER_OTLP_ENDPOINT` /
  `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or `OTEL_TRACES_EXPORTER` naming `otlp` or `console`), never
  with `OTEL_SDK_DISABLED=true` or SERVICE_INSTRUMENTATION=false: spans nobody receives buy nothing.
- The head-sampling decision for a request without a parent is taken first, by `SamplingGate`, from
  the same `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`; only the requests it samples (and
  those with a `traceparent`, when the sampler is parent-based) go through the instrumentation's
  middleware, whose sampler then keeps every root it is given. At 10% sampling the instrumentation
  costs a tenth. The price: a request that is not sampled has no trace id in its log line (it would
  name a trace that no backend has), and the ratio decision is random instead of a function of the
  trace id (the same in distribution; only cross-service consistency of unparented roots differs).
- The per-message `http send` / `http receive` spans are left out (they double the span count and
  say nothing the server span does not), and the instrumentation's own OTel metrics go to a no-op
  meter (Prometheus has them already, with bounded labels).
- The inference child span is only opened when the request is sampled, and it is not made the
  current span (nothing runs inside it that would look it up): half the cost of a current span.
- Spans are encoded for OTLP by `otlp.encode_spans`, the library's message built in place.
- Two costs of the sampled path are cut without changing a span: the server span's name and
  `http.route` for a static route are computed once per (method, path) instead of matching every
  route again per request (`memoized_span_details`), and the resource's hash, which the OTLP
  encoder takes for every span by dumping the attributes to JSON, is computed once (`FixedResource`).
Resource (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`), exporter endpoint and batching
(`OTEL_BSP_*`) are the SDK's own handling of those variables.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import sys
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider, sampling
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from contract import routes
from service.observability.routes import METHODS, static_paths

SERVICE_NAME = "insurance-charges"
#: Scrapes and probes make no traces (the instrumentation's comma-separated regexes).
EXCLUDED_URLS = ",".join(f"{path}$" for path in (routes.METRICS, routes.HEALTHZ, routes.READYZ))
SEMCONV_OPT_IN = "OTEL_SEMCONV_STABILITY_OPT_IN"
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


def head_sampling(env: Mapping[str, str] = os.environ) -> tuple[float, bool] | None:
    """(ratio of unparented requests to sample, parent-based?) from OTEL_TRACES_SAMPLER(_ARG).

    None for a sampler this gate does not know (it is then left entirely to the SDK).
    """
    name = env.get("OTEL_TRACES_SAMPLER", "parentbased_always_on").strip().lower()
    parent_based = name.startswith("parentbased_")
    kind = name.removeprefix("parentbased_")
    if kind == "always_on":
        return 1.0, parent_based
    if kind == "always_off":
        return 0.0, parent_based
    if kind == "traceidratio":
        try:
            ratio = float(env.get("OTEL_TRACES_SAMPLER_ARG", "1.0"))
        except ValueError:
            ratio = 1.0
        return min(max(ratio, 0.0), 1.0), parent_based
    return None


class FixedResource(Resource):
    """A Resource that hashes once: the process's resource never changes after start-up."""

    def __init__(self, resource: Resource) -> None:
        super().__init__(resource.attributes, resource.schema_url)
        self._hash = super().__hash__()

    def __hash__(self) -> int:
        return self._hash


#: The instrumentation's `default_span_details` (typed loosely there: a scope in, name and attributes out).
SpanDetails = Callable[[Any], tuple[str, dict[str, Any]]]


def memoized_span_details(details: SpanDetails, paths: Collection[str]) -> SpanDetails:
    """The instrumentation's span name and attributes, remembered for the static routes.

    Its own function walks the app's routes for every sampled request; for `paths`, routes without
    parameters, the answer depends on the method and path only (bounded: known methods only).
    """
    cache: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}

    def span_details(scope: Scope) -> tuple[str, dict[str, Any]]:
        key = (scope.get("method", ""), scope["path"])
        known = cache.get(key)
        if known is None:
            known = details(scope)
            if key[1] in paths and key[0] in METHODS:
                cache[key] = known
        return known[0], dict(known[1])

    return span_details


#: Where `Redact` keeps the request's own scope for `Restore`.
ORIGINAL_SCOPE = "service.original_scope"


class Redact:
    """Hide the query string and the client's address from the tracing middleware (outside it).

    The instrumentation copies both into every server span (`url.query`, `client.address`,
    `client.port`), and a span outlives the request in a trace store that many people can read: they can
    identify a person. The middleware sees a scope without them; `Restore`, inside it, gives the
    application its real scope back. Only sampled requests pass here.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        redacted = {**scope, "query_string": b"", "client": None, ORIGINAL_SCOPE: scope}
        return self.app(redacted, receive, send)


class Restore:
    """The application's side of `Redact`: the request's query string and client address as they came."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        original = scope.pop(ORIGINAL_SCOPE, None)
        if original is not None:
            scope = {**scope, "query_string": original["query_string"], "client": original["client"]}
        return self.app(scope, receive, send)


class SamplingGate:
    """Route a request through the tracing middleware only if its trace will be sampled."""

    def __init__(self, traced: ASGIApp, untraced: ASGIApp, ratio: float, parent_based: bool) -> None:
        self.traced = traced
        self.untraced = untraced
        self.ratio = ratio
        self.parent_based = parent_based

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine itself: the chosen app's coroutine is awaited directly (one frame less).
        if scope["type"] == "http" and not self._sampled(scope):
            return self.untraced(scope, receive, send)
        return self.traced(scope, receive, send)

    def _sampled(self, scope: Scope) -> bool:
        if self.parent_based:
            for name, _ in scope["headers"]:
                if name == b"traceparent":
                    return True  # the parent's flag decides, in the SDK's parent-based sampler
        return self.ratio >= 1.0 or random.random() < self.ratio


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
    app: FastAPI,
    redact: bool = True,
    *,
    sample_ratio: float | None = None,
    endpoint: str | None = None,
    service_name: str = SERVICE_NAME,
) -> TracerProvider | None:
    """Instrument the app when an exporter is configured; returns the provider (to shut down) or None.

    `redact`: server spans carry neither the query string nor the client's address (see `Redact`).
    `sample_ratio`, `endpoint` (an OTLP/HTTP base URL): as the instrumentation's settings say, over the OTEL_*
    variables. `service_name`: the resource's, unless OTEL_SERVICE_NAME names one."""
    chosen = overrides(sample_ratio, endpoint)
    env = {**os.environ, **chosen}
    names = exporters(env)
    if not names:
        return None
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    # The stable HTTP semantic conventions (http.request.method, url.path, http.response.status_code,
    # ...) unless the user chose otherwise: the old names are deprecated, and the stable set is
    # also the cheaper one for the instrumentation to fill in.
    os.environ.setdefault(SEMCONV_OPT_IN, "http")
    gate = head_sampling(env)
    attributes: dict[str, Any] = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": service_name}
    options: dict[str, Any] = {"resource": FixedResource(Resource.create(attributes))}
    if gate is not None:
        # The gate took the root decision already: what reaches the SDK is to be kept.
        options["sampler"] = sampling.ParentBased(sampling.ALWAYS_ON) if gate[1] else sampling.ALWAYS_ON
    provider = TracerProvider(**options)
    endpoint_url = chosen.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    for name in names:
        provider.add_span_processor(BatchSpanProcessor(_exporter(name, endpoint_url)))
    trace.set_tracer_provider(provider)
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        meter_provider=NoOpMeterProvider(),
        excluded_urls=EXCLUDED_URLS,
        exclude_spans=["receive", "send"],
    )
    if gate is None and not redact:
        return provider
    instrumented_stack = app.build_middleware_stack

    def build_middleware_stack() -> ASGIApp:
        stack = instrumented_stack()
        otel = getattr(stack, "app", None)
        if not isinstance(otel, OpenTelemetryMiddleware):
            logging.getLogger(__name__).warning("unexpected middleware stack: every request goes through tracing")
            return stack
        untraced = otel.app
        if redact:
            otel.app = Restore(untraced)
            stack.app = Redact(otel)  # type: ignore[attr-defined]
        if gate is None:
            return stack
        static = static_paths(app.routes)  # (the routes are final once the stack is built)
        otel.default_span_details = memoized_span_details(otel.default_span_details, static)
        return SamplingGate(stack, _without_span_recording(untraced), *gate)

    app.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]
    return provider


def _without_span_recording(stack: ASGIApp) -> ASGIApp:
    """The unsampled requests' stack without the instrumentation's exception recorder, a coroutine layer per
    request that only writes an exception into a recording span (they have none); the stack as it is if its
    shape is not the one the instrumentation builds (ServerErrorMiddleware around that recorder)."""
    recorder = getattr(stack, "app", None)
    if not isinstance(stack, ServerErrorMiddleware) or type(recorder).__name__ != "ExceptionHandlerMiddleware":
        return stack
    return ServerErrorMiddleware(recorder.app, handler=stack.handler, debug=stack.debug)  # type: ignore[union-attr]


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
