"""create_app(settings): the FastAPI application, its start-up and its middleware."""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect

from contract.routes import MODEL_NAME
from contract.schemas import EXAMPLE_RECORD, BatchRequest, InsuranceRecord
from service import api, faults
from service.body_limit import BodyLimitMiddleware
from service.errors import validation_error_handler
from service.fault_injection import FaultInjectionMiddleware
from service.model import Model
from service.observability import logging, metrics, tracing
from service.observability.middleware import ObservabilityMiddleware
from service.observability.telemetry import Telemetry
from service.settings import ServiceSettings


def load_and_warm(settings: ServiceSettings) -> Model:
    """Load the artifact and run one prediction, so the first real request pays no warm-up."""
    model = Model.load(settings.model_dir, settings.model_version)
    model.predict([InsuranceRecord(**EXAMPLE_RECORD)])
    return model


async def flush_signals() -> None:
    """Fold the buffered model signals into the metrics now and then (see metrics.SignalBuffer)."""
    while True:
        await asyncio.sleep(metrics.FLUSH_SECONDS)
        metrics.SIGNALS.flush()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the model before the first request (the server serves nothing until this yields)."""
    settings: ServiceSettings = app.state.settings
    try:
        model = load_and_warm(settings)
    except Exception as exc:  # the start fails: one line that says which model and why (python -m service)
        raise RuntimeError(f"cannot load model {settings.model_version!r} from {settings.model_dir}: {exc}") from exc
    app.state.predictor = api.Predictor(model, app.state.telemetry)
    metrics.SIGNALS.min_count = settings.model_signal_min_count
    metrics.ADMISSION_LIMIT.set(settings.queue_delay_limit_seconds)  # the bound service/protocol.py holds to
    metrics.set_model(model.metadata.get("name", MODEL_NAME), model.version)
    # Everything allocated so far (modules, the app, the model) lives as long as the process:
    # out of the collector's sight, full collections stop rescanning it (a few ms each).
    gc.collect()
    gc.freeze()
    app.state.ready = True
    metrics.set_ready(True)
    flusher = asyncio.create_task(flush_signals()) if settings.instrumentation else None
    try:
        yield
    finally:
        if flusher is not None:
            flusher.cancel()
            with suppress(asyncio.CancelledError):
                await flusher
        app.state.ready = False
        metrics.set_ready(False)
        if app.state.tracer_provider is not None:
            app.state.tracer_provider.shutdown()
        metrics.worker_exit()


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings or ServiceSettings()
    logging.configure(settings.log_level)
    app = FastAPI(
        title="Insurance charges prediction service",
        version="1.0.0",
        description="Predicts yearly medical insurance charges from age, sex, BMI, children, smoking and region.",
        lifespan=lifespan,
        # FastAPI's own OpenTelemetry support (0.16x) would add a second server span and spans per
        # dependency/endpoint/serialization as soon as a tracer provider exists: traces come from
        # opentelemetry-instrumentation-fastapi (service/observability/tracing.py), metrics and logs
        # from the request middleware.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.settings = settings
    app.state.ready = False
    shared = Path(os.environ[metrics.MULTIPROC_ENV]) / "faults.json" if metrics.MULTIPROCESS else None
    app.state.faults = faults.Faults(settings.faults, shared)
    app.state.body_models = {BatchRequest: api.bounded_batch(settings.max_batch_size)}
    app.include_router(api.router)
    app.include_router(faults.router)
    app.add_exception_handler(RequestValidationError, validation_error_handler)  # type: ignore[arg-type]
    app.add_exception_handler(ClientDisconnect, api.client_disconnect_handler)
    provider = tracing.setup(app, redact=not settings.trace_request_details) if settings.instrumentation else None
    app.state.tracer_provider = provider
    app.state.telemetry = Telemetry(
        record=settings.instrumentation, tracing=provider is not None, log_inputs=settings.log_inputs
    )
    # The middleware a request meets, outermost first. With tracing on, the OpenTelemetry server span
    # (tracing.py) wraps them all; FastAPI's error and exception handling sit outside and inside them.
    chain = [
        # Request id, route template, the latency histogram, the log line; an escaped exception -> logged 500.
        # Outermost, so whatever the layers below answer is counted and logged.
        Middleware(
            ObservabilityMiddleware,
            router=app.router,
            instrument=settings.instrumentation,
            tracing_on=provider is not None,
        ),
        # Admission by time (shedding) happens before all of this, in the protocol and the Gate
        # (service/protocol.py, service/admission.py): a shed request never enters this chain.
        # Drills: latency and 500s on chosen routes.
        Middleware(FaultInjectionMiddleware, faults=app.state.faults),
        # Oversized bodies -> 413 before anything parses them.
        Middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes),
    ]
    for middleware in reversed(chain):  # add_middleware puts each outside the ones added before
        app.add_middleware(middleware.cls, *middleware.args, **middleware.kwargs)
    document_limits(app, settings)
    return app


def document_limits(app: FastAPI, settings: ServiceSettings) -> None:
    """The OpenAPI schema states this service's batch maximum (a setting), as `maxItems` of the records."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            records = schema["components"]["schemas"]["BatchRequest"]["properties"]["records"]
            records["maxItems"] = settings.max_batch_size
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]
