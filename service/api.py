"""The endpoints: v1 predictions, the original service's route, model metadata and probes."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import Field, create_model

from contract import routes
from contract.schemas import (
    BatchPrediction,
    BatchRequest,
    ErrorMessage,
    Health,
    InsuranceRecord,
    LegacyPrediction,
    Prediction,
)
from service import admission, draining, model_metrics
from service.fast_route import JSONBodyRoute
from service.model import Model
from service.observability import log_fields, metrics, tracing
from service.observability.telemetry import Telemetry

#: The error answers of the prediction routes (the 422 is FastAPI's own entry).
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorMessage, "description": "Malformed JSON."},
    413: {"model": ErrorMessage, "description": "Request body (or batch) too large."},
    503: {
        "model": ErrorMessage,
        "description": "Overloaded: the request would have waited in the service longer than "
        "SERVICE_MAX_QUEUE_DELAY_MS; retry after the Retry-After header's seconds.",
    },
    504: {
        "model": ErrorMessage,
        "description": "The request's deadline (its X-Request-Timeout header) passed before it was predicted.",
    },
}
#: The status of a request not predicted because its client left (nginx's: nobody reads it, the log and
#: the metrics do) or its deadline passed.
ABANDONED_STATUS = {"disconnect": 499, "deadline": 504}

router = APIRouter(route_class=JSONBodyRoute)


def refuse_if_abandoned(request: Request) -> None:
    """Just before model work: a request whose client left or whose deadline passed is not predicted."""
    reason = admission.abandoned(request.scope)
    if reason is not None:
        raise HTTPException(abandon(request, reason), f"not predicted: {reason}")


def abandon(request: Request, reason: str) -> int:
    """Count and log a request given up for `reason`; its status."""
    path = request.scope["path"]
    if request.app.state.telemetry.record and path in routes.PREDICTION_ROUTES:  # bounded labels
        metrics.ABANDONED.labels(path, reason).inc()
    log_fields.bind(abandoned=reason)
    return ABANDONED_STATUS[reason]


async def client_disconnect_handler(request: Request, exc: Exception) -> Response:
    """The client left before its body was read (Starlette raises ClientDisconnect): not a 500, a 499."""
    return JSONResponse({"detail": "not predicted: disconnect"}, abandon(request, "disconnect"))


def bounded_batch(max_batch_size: int) -> type[BatchRequest]:
    """The batch model with its list capped: pydantic refuses a longer list before validating its records,
    so an oversized batch costs one parse, not one validation (and one error) per record."""
    records = Annotated[list[InsuranceRecord], Field(min_length=1, max_length=max_batch_size)]
    return create_model("BatchRequest", __base__=BatchRequest, records=(records, ...))


@dataclass(frozen=True, slots=True)
class Predictor:
    """The served model and what to record of its predictions (app.state.predictor, set by the lifespan
    before the server answers any request): one app-state look-up per request, each costs about a µs."""

    model: Model
    telemetry: Telemetry

    def predict(self, records: Sequence[InsuranceRecord], batch: bool = False) -> list[float]:
        """Predict, and, when instrumentation is on, trace, time and record the model's signals and log fields."""
        model, telemetry = self.model, self.telemetry
        if not telemetry.record:
            return model.predict(records)
        if telemetry.tracing and tracing.sampled():
            with tracing.inference_span(model.version, len(records)):
                start = time.perf_counter()
                charges = model.predict(records)
                seconds = time.perf_counter() - start
        else:
            start = time.perf_counter()
            charges = model.predict(records)
            seconds = time.perf_counter() - start
        if batch:
            model_metrics.observe_batch(records, charges, seconds)
            log_fields.bind(model_version=model.version, batch_size=len(records))
        else:
            model_metrics.SIGNALS.add(records[0], charges[0], seconds)
            log_fields.bind(model_version=model.version)
        if telemetry.log_inputs:
            # A prediction is personal health data too: logged with the inputs or not at all (the request id
            # beside it is the client's choice, so it would tie the line to a person).
            inputs = [r.model_dump() for r in records]
            log_fields.bind(inputs=inputs if batch else inputs[0], charges=charges if batch else charges[0])
        return charges


@router.post(routes.PREDICT, response_model=Prediction, responses=ERRORS, tags=["v1"])
async def predict(record: InsuranceRecord, request: Request) -> dict[str, Any]:
    """Predict one person's yearly medical charges."""
    refuse_if_abandoned(request)
    predictor: Predictor = request.app.state.predictor
    (charges,) = predictor.predict([record])
    return {"charges": charges, "model_version": predictor.model.version}


@router.post(routes.PREDICT_BATCH, response_model=BatchPrediction, responses=ERRORS, tags=["v1"])
async def predict_batch(batch: BatchRequest, request: Request) -> dict[str, Any]:
    """Predict for up to SERVICE_MAX_BATCH_SIZE records; results come back in the records' order.

    A longer batch is refused (413) while it is parsed (`bounded_batch`, service/errors.py)."""
    refuse_if_abandoned(request)
    predictor: Predictor = request.app.state.predictor
    version = predictor.model.version
    charges = predictor.predict(batch.records, batch=True)
    return {"predictions": [{"charges": c, "model_version": version} for c in charges]}


@router.post(
    routes.PREDICT_ORIGINAL,
    response_model=LegacyPrediction,
    responses=ERRORS,
    tags=["original"],
)
async def predict_original(record: InsuranceRecord, request: Request) -> dict[str, float]:
    """The original service's route and response, kept so its clients and Locust file work as-is."""
    refuse_if_abandoned(request)
    predictor: Predictor = request.app.state.predictor
    (charges,) = predictor.predict([record])
    return {"charges": round(charges, 2)}


@router.get(routes.MODEL_INFO, tags=["v1"])
async def model_metadata(request: Request) -> dict[str, Any]:
    """The served model's metadata: version, training time, data checksum, metrics, feature schema."""
    predictor: Predictor = request.app.state.predictor
    return predictor.model.metadata


@router.get(routes.HEALTHZ, response_model=Health, tags=["probes"])
async def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get(routes.READYZ, response_model=Health, tags=["probes"], responses={503: {"model": Health}})
async def readyz(request: Request, response: Response) -> dict[str, str]:
    """Readiness: the model is loaded and a warm-up prediction succeeded, and the service is not shutting down."""
    if draining.DRAINING.is_set():
        response.status_code = 503
        return {"status": "draining"}
    if not request.app.state.ready:
        response.status_code = 503
        return {"status": "loading"}
    return {"status": "ready"}
