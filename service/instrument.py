"""`instrument(app)`: our service's instrumentation for anyone's FastAPI or Starlette model service, in one call.

    app = FastAPI()
    ...  # your routes, your own middleware
    instrument(app)  # last: its layers go outside yours
    serve(app)  # or uvicorn.run(app, **uvicorn_options(app)); plain uvicorn works too, with less protection

It gives the app what our prediction service has (the service calls exactly this, service/app.py):
- the request metrics under our names (service/observability/metrics.py), which the SLO rules, the dashboards and
  the `service` SLO preset read: the latency histogram by method, route template and status code, with the trace
  id of sampled requests as exemplars; requests in flight; queue delay, sheds, abandoned requests, read timeouts;
  `service_ready` (1 once the app's own start-up has finished). Route labels come from the app's router: a path
  no route matches is `unmatched`, so no raw path becomes a label;
- one JSON log line per request (service/observability/middleware.py);
- OpenTelemetry traces, only when an exporter is configured, sampled at the head (tracing.py);
- `/metrics` (OpenMetrics with exemplars when the scraper asks for it);
- overload protection: admission by time (a prediction that would wait longer than SERVICE_MAX_QUEUE_DELAY_MS is
  answered 503 with Retry-After) and a body-size limit. The rest of it (shedding without a task, read timeouts,
  head limits, the connection cap, deadlines) is in the HTTP protocol, which no ASGI call can install: run the app
  with `serve` or `uvicorn_options` (service/serving.py). Under plain uvicorn the app's outermost layer measures
  and sheds on its own, less exactly (service/turn_admission.py says what is lost).

Settings: one `InstrumentSettings` (SERVICE_* variables, the README's table). The prediction routes, the ones
that may be shed, are by default every POST route of the app without a path parameter; `routes` says otherwise.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp

from contract.routes import METRICS
from service.admission import Admission, Gate, Recorder, Routes
from service.body_limit import BodyLimitMiddleware
from service.observability import logging, metrics, tracing
from service.observability.middleware import ObservabilityMiddleware
from service.observability.routes import static_paths, static_post_paths
from service.observability.settings import InstrumentSettings
from service.observability.wrapping import wrap_stack
from service.turn_admission import TurnAdmission

__all__ = ["InstrumentSettings", "Instrumentation", "Routes", "app_routes", "instrument"]


@dataclass(frozen=True)
class Instrumentation:
    """What `instrument` set up for an app (app.state.instrumentation): its settings, its routes, its tracing."""

    settings: InstrumentSettings
    #: The provider of the app's traces (None: tracing off); `instrument` shuts it down with the app.
    tracer_provider: TracerProvider | None
    _routes: Routes | None
    _app: Starlette

    def routes(self) -> Routes:
        """The routes admission sheds and names: as given, else the app's (read when asked: its routes are final)."""
        return self._routes or app_routes(self._app)


def app_routes(app: Starlette) -> Routes:
    """An app's routes as admission knows them: its POST routes without parameters may be shed (a model service's
    predictions), and every route without parameters is named (any other path is `unmatched`)."""
    return Routes(
        sheddable=frozenset(static_post_paths(app.routes) - {METRICS}), known=frozenset(static_paths(app.routes))
    )


def instrument(
    app: Starlette,
    settings: InstrumentSettings | None = None,
    *,
    routes: Routes | None = None,
    service_name: str | None = None,
) -> Instrumentation:
    """Instrument `app` (see the module's docstring); call it once, after the app's routes and middleware.

    `settings`: read from the SERVICE_* variables when not given. `routes`: which paths may be shed and are named
    by admission (default: `app_routes(app)`). `service_name`: the traces' service name, unless OTEL_SERVICE_NAME
    names one (default: the app's title)."""
    if getattr(app.state, "instrumentation", None) is not None:
        raise RuntimeError("instrument(app): this app is instrumented already")
    if app.middleware_stack is not None:
        raise RuntimeError("instrument(app): the app has started already; instrument it before it serves")
    settings = settings or InstrumentSettings()
    logging.configure(settings.log_level)
    _without_native_telemetry(app)
    # Admission under plain uvicorn: outside the app's middleware, inside the tracing layers (wrapped before they
    # are), so that every request passes it whether it is sampled or not.
    wrap_stack(app, lambda stack: _admission(stack, app.state.instrumentation))
    provider = None
    if settings.instrumentation:
        provider = tracing.setup(
            app,
            redact=not settings.trace_request_details,
            sample_ratio=settings.trace_sample_ratio,
            endpoint=None if settings.otlp_endpoint is None else str(settings.otlp_endpoint),
            service_name=service_name or getattr(app, "title", None) or tracing.SERVICE_NAME,
        )
    done = Instrumentation(settings, provider, routes, app)
    app.state.instrumentation = done
    # Outermost of the app's own middleware (add_middleware puts it outside those added before): the request id,
    # route template, latency histogram, log line and the last-resort 500, for whatever the layers inside answer.
    app.add_middleware(
        ObservabilityMiddleware, router=app.router, instrument=settings.instrumentation, tracing_on=provider is not None
    )
    # Innermost, just before the routes that parse bodies: oversized ones -> 413 first.
    app.user_middleware.append(Middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes))
    app.add_route(METRICS, _metrics_endpoint(settings), include_in_schema=False)
    app.router.lifespan_context = _lifespan(app.router.lifespan_context, done)
    return done


def _without_native_telemetry(app: Starlette) -> None:
    """Turn FastAPI's own OpenTelemetry support (0.16x) off: as soon as a tracer provider exists it opens a root span
    for every request that the head-sampling gate let past the tracing layers, sampled by the provider's always-on
    sampler (every request traced, at several times the cost of the rest of it), and adds spans per dependency,
    endpoint and serialization. Traces come from tracing.py, metrics and logs from the request middleware.

    `_telemetry` is FastAPI's private config, read at each request (tests/unit/service/test_instrument.py fails if
    it changes); FastAPI before 0.16x and Starlette have none."""
    config = getattr(app, "_telemetry", None)
    if isinstance(config, dict):
        config.update(tracing=False, metrics=False, logs=False, operation_spans=False)


def _metrics_endpoint(settings: InstrumentSettings) -> Callable[[Request], Any]:
    async def metrics_endpoint(request: Request) -> Response:
        """Prometheus scrape: OpenMetrics (with exemplars) when the Accept header asks for it, else text 0.0.4.

        With SERVICE_METRICS_PORT set the metrics are served there only, and this route answers 404."""
        if settings.metrics_port is not None:
            return JSONResponse({"detail": "Not Found"}, 404)
        body, content_type = metrics.exposition(request.headers.get("accept", ""))
        return Response(body, media_type=content_type)

    return metrics_endpoint


def _admission(stack: ASGIApp, done: Instrumentation) -> ASGIApp:
    """Under plain uvicorn: a Gate of the app's own, fed by the turn stamp (service/turn_admission.py)."""
    settings = done.settings
    gate = Gate(
        stack,
        Admission(settings.queue_delay_limit_seconds),
        Recorder(settings.instrumentation),
        settings.retry_after_seconds,
        done.routes(),
    )
    return TurnAdmission(stack, gate)


Lifespan = Callable[[Any], AbstractAsyncContextManager[Any]]


def _lifespan(inner: Lifespan, done: Instrumentation) -> Lifespan:
    """The app's own lifespan inside ours: the admission bound and the prediction routes' series before it starts,
    `service_ready` while it runs, the traces flushed and the worker's live gauges retired after it stops."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        settings = done.settings
        metrics.ADMISSION_LIMIT.set(settings.queue_delay_limit_seconds)
        metrics.init_routes(sorted(done.routes().sheddable))
        try:
            async with inner(app) as state:
                metrics.set_ready(True)
                try:
                    yield state
                finally:
                    metrics.set_ready(False)
        finally:
            if done.tracer_provider is not None:
                done.tracer_provider.shutdown()
            metrics.worker_exit()

    return lifespan
