"""Error responses: every client mistake is a 4xx that says which field, never a 500."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from contract.routes import PREDICTION_ROUTES
from service.observability import log_fields, metrics
from service.observability.telemetry import Telemetry


def record_invalid(request: Request, fields: Sequence[str]) -> None:
    """Count a prediction request's invalid fields (bounded labels) and name them in its log line.

    Only the field names: an invalid value is still personal data.
    """
    telemetry: Telemetry = request.app.state.telemetry
    if not telemetry.record or request.scope.get("path") not in PREDICTION_ROUTES:
        return
    log_fields.bind(invalid_fields=list(fields))
    for field in fields:
        metrics.VALIDATION_ERRORS.labels(metrics.validation_field(field)).inc()


def field_name(loc: Sequence[Any]) -> str:
    """`("body", "records", 3, "age")` -> `records.3.age`; the body itself is `body`."""
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or "body"


async def validation_error_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        ctx = errors[0].get("ctx", {})
        record_invalid(request, ["body"])
        return JSONResponse({"detail": f"malformed JSON: {ctx.get('error', 'cannot parse body')}"}, status_code=400)
    detail = [
        {
            "loc": list(e.get("loc", ())),
            "msg": e.get("msg", ""),
            "type": e.get("type", ""),
            "field": field_name(e.get("loc", ())),
        }
        for e in errors
    ]
    message = "; ".join(f"{d['field']}: {d['msg']}" for d in detail)
    record_invalid(request, [d["field"] for d in detail])
    return JSONResponse({"detail": detail, "message": message}, status_code=422)
