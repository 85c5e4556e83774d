"""create_app(settings): the insurance API, its start-up, and `instrument(app)` as any model service would call it."""

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
from starlette.requests import ClientDisconnect

from contract.routes import MODEL_NAME
from contract.schemas import EXAMPLE_RECORD, BatchRequest, InsuranceRecord
from service import api, faults, model_metrics
from service.admission import SERVICE_ROUTES
from service.errors import validation_error_handler
from service.fault_injection import FaultInjectionMiddleware
from service.instrument import instrument
from service.model import Model
from service.observability import metrics, tracing
from service.observability.telemetry import Telemetry
from service.settings import ServiceSettings


def load_and_warm(settings: ServiceSettings) -> Model:
    """Load the artifact and run one prediction, so the first real request pays no warm-up."""
    model = Model.load(settings.model_dir, settings.model_version)
    model.predict([InsuranceRecord(**EXAMPLE_RECORD)])
    return model


async def flush_signals() -> None:
    """Fold the buffered model signals into the metrics now and then (see model_metrics.SignalBuffer)."""
    while True:
        await asyncio.sleep(model_metrics.FLUSH_SECONDS)
        model_metrics.SIGNALS.flush()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the model before the first request (the server serves nothing until this yields).

    Inside the instrumentation's own lifespan (service/instrument.py), which sets `service_ready` once this yields."""
    settings: ServiceSettings = app.state.settings
    try:
        model = load_and_warm(settings)
    except Exception as exc:  # the start fails: one line that says which model and why (python -m service)
        raise RuntimeError(f"cannot load model {settings.model_version!r} from {settings.model_dir}: {exc}") from exc
    app.state.predictor = api.Predictor(model, app.state.telemetry)
    model_metrics.SIGNALS.min_count = settings.model_signal_min_count
    model_metrics.set_model(model.metadata.get("name", MODEL_NAME), model.version)
    # Everything allocated so far (modules, the app, the model) lives as long as the process:
    # out of the collector's sight, full collections stop rescanning it (a few ms each).
    gc.collect()
    gc.freeze()
    app.state.ready = True
    flusher = asyncio.create_task(flush_signals()) if settings.instrumentation else None
    try:
        yield
    finally:
        if flusher is not None:
            flusher.cancel()
            with suppress(asyncio.CancelledError):
                await flusher
        app.state.ready = False


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """The insurance API, instrumented by exactly the call any other model service makes (service/instrument.py)."""
    settings = settings or ServiceSettings()
    app = FastAPI(
        title="Insurance charges prediction service",
        version="1.0.0",
        description="Predicts yearly medical insurance charges from age, sex, BMI, children, smoking and region.",
        lifespan=lifespan,
        # FastAPI's own OpenTelemetry support (0.16x) would add a second server span and spans per
        # dependency/endpoint/serialization as soon as a tracer provider exists: server spans come from
        # service/observability/server_span.py, metrics and logs from the request middleware.
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
    # Drills: latency and 500s on chosen routes; inside the instrumentation's layers, so they are counted and logged.
    app.add_middleware(FaultInjectionMiddleware, faults=app.state.faults)
    # The request metrics, log line, traces, /metrics, admission by time (with service/protocol.py, which
    # `python -m service` runs) and the body limit. The routes admission knows are the contract's.
    done = instrument(app, settings, routes=SERVICE_ROUTES, service_name=tracing.SERVICE_NAME)
    app.state.tracer_provider = done.tracer_provider
    app.state.telemetry = Telemetry(
        record=settings.instrumentation, tracing=done.tracer_provider is not None, log_inputs=settings.log_inputs
    )
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
