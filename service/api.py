"""The endpoints: v1 predictions, the original service's route, model metadata and probes."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response

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
from service.errors import record_invalid
from service.fast_route import JSONBodyRoute
from service.model import Model
from service.observability import metrics, tracing
from service.observability.middleware import notes as request_notes

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorMessage, "description": "Malformed JSON."},
    413: {"model": ErrorMessage, "description": "Request body (or batch) too large."},
    503: {"model": ErrorMessage, "description": "Model not loaded yet."},
}

router = APIRouter(route_class=JSONBodyRoute)


def _model(request: Request) -> Model:
    model: Model | None = request.app.state.model
    if model is None:
        raise HTTPException(503, "model not loaded yet")
    return model


def _predict(request: Request, model: Model, records: Sequence[InsuranceRecord], batch: bool = False) -> list[float]:
    """Predict, and, when instrumentation is on, trace, time and record the model's signals and log fields."""
    notes = request_notes(request.scope)
    if notes is None:
        return model.predict(records)
    if notes.traced:
        with tracing.inference_span(model.version, len(records)):
            start = time.perf_counter()
            charges = model.predict(records)
            seconds = time.perf_counter() - start
    else:
        start = time.perf_counter()
        charges = model.predict(records)
        seconds = time.perf_counter() - start
    if batch:
        metrics.observe_batch(records, charges, seconds)
    else:
        metrics.SIGNALS.add(records[0], charges[0], seconds)
    fields = notes.fields
    fields["model_version"] = model.version
    if batch:
        fields["batch_size"] = len(records)
        fields["charges"] = charges
    else:
        fields["charges"] = charges[0]
    if notes.log_inputs:
        inputs = [r.model_dump() for r in records]
        fields["inputs"] = inputs if batch else inputs[0]
    return charges


@router.post(routes.PREDICT, response_model=Prediction, responses=ERRORS, tags=["v1"])
async def predict(record: InsuranceRecord, request: Request) -> dict[str, Any]:
    """Predict one person's yearly medical charges."""
    model = _model(request)
    (charges,) = _predict(request, model, [record])
    return {"charges": charges, "model_version": model.version}


@router.post(routes.PREDICT_BATCH, response_model=BatchPrediction, responses=ERRORS, tags=["v1"])
async def predict_batch(batch: BatchRequest, request: Request) -> dict[str, Any]:
    """Predict for up to SERVICE_MAX_BATCH_SIZE records; results come back in the records' order."""
    limit = request.app.state.settings.max_batch_size
    if len(batch.records) > limit:
        record_invalid(request, ["records"])
        raise HTTPException(413, f"records: batch of {len(batch.records)} exceeds the maximum of {limit}")
    model = _model(request)
    version = model.version
    charges = _predict(request, model, batch.records, batch=True)
    return {"predictions": [{"charges": c, "model_version": version} for c in charges]}


@router.post(
    routes.PREDICT_ORIGINAL,
    response_model=LegacyPrediction,
    responses=ERRORS,
    tags=["original"],
)
async def predict_original(record: InsuranceRecord, request: Request) -> dict[str, float]:
    """The original service's route and response, kept so its clients and Locust file work as-is."""
    (charges,) = _predict(request, _model(request), [record])
    return {"charges": round(charges, 2)}


@router.get(routes.MODEL_INFO, tags=["v1"], responses={503: ERRORS[503]})
async def model_metadata(request: Request) -> dict[str, Any]:
    """The served model's metadata: version, training time, data checksum, metrics, feature schema."""
    return _model(request).metadata


@router.get(routes.HEALTHZ, response_model=Health, tags=["probes"])
async def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get(routes.READYZ, response_model=Health, tags=["probes"], responses={503: {"model": Health}})
async def readyz(request: Request, response: Response) -> dict[str, str]:
    """Readiness: the model is loaded and a warm-up prediction succeeded."""
    if not request.app.state.ready:
        response.status_code = 503
        return {"status": "loading"}
    return {"status": "ready"}


@router.get(routes.METRICS, include_in_schema=False)
async def metrics_endpoint(request: Request) -> Response:
    """Prometheus scrape: OpenMetrics (with exemplars) when the Accept header asks for it, else text 0.0.4."""
    body, content_type = metrics.exposition(request.headers.get("accept", ""))
    return Response(body, media_type=content_type)
