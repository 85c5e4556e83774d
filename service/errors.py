"""Error responses: every client mistake is a 4xx that says which field, never a 500.

The work and the size of an error answer are bounded: a batch over the maximum is one error (413, the
batch model's length cap), and at most SERVICE_MAX_VALIDATION_ERRORS errors are listed in the answer and
in the log line, the number of the others stated beside them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from contract.routes import PREDICTION_ROUTES
from service import model_metrics
from service.observability import log_fields
from service.observability.telemetry import Telemetry


def record_invalid(request: Request, fields: Sequence[str], listed: int | None = None) -> None:
    """Count a prediction request's invalid fields (bounded labels) and name the first `listed` in its log line.

    Only the field names: an invalid value is still personal data.
    """
    telemetry: Telemetry = request.app.state.telemetry
    if not telemetry.record or request.scope.get("path") not in PREDICTION_ROUTES:
        return
    listed = len(fields) if listed is None else listed
    log_fields.bind(invalid_fields=list(fields[:listed]))
    if len(fields) > listed:
        log_fields.bind(invalid_fields_more=len(fields) - listed)
    for label, n in Counter(model_metrics.validation_field(field) for field in fields).items():
        model_metrics.VALIDATION_ERRORS.labels(label).inc(n)


def field_name(loc: Sequence[Any]) -> str:
    """`("body", "records", 3, "age")` -> `records.3.age`; the body itself is `body`."""
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or "body"


def _batch_too_long(errors: Sequence[Any]) -> dict[str, Any] | None:
    """The length cap's error, if the batch's record list is over the maximum (then it is the only error)."""
    for e in errors:
        if e.get("type") == "too_long" and tuple(e.get("loc", ())) == ("body", "records"):
            ctx: dict[str, Any] = e.get("ctx", {})
            return ctx
    return None


async def validation_error_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        ctx = errors[0].get("ctx", {})
        record_invalid(request, ["body"])
        return JSONResponse({"detail": f"malformed JSON: {ctx.get('error', 'cannot parse body')}"}, status_code=400)
    too_long = _batch_too_long(errors)
    if too_long is not None:
        record_invalid(request, ["records"])
        detail = (
            f"records: batch of {too_long.get('actual_length')} exceeds the maximum of {too_long.get('max_length')}"
            " (SERVICE_MAX_BATCH_SIZE)"
        )
        return JSONResponse({"detail": detail}, status_code=413)
    limit: int = request.app.state.settings.max_validation_errors
    detail_list = [
        {
            "loc": list(e.get("loc", ())),
            "msg": e.get("msg", ""),
            "type": e.get("type", ""),
            "field": field_name(e.get("loc", ())),
        }
        for e in errors[:limit]
    ]
    message = "; ".join(f"{d['field']}: {d['msg']}" for d in detail_list)
    more = len(errors) - len(detail_list)
    if more:
        message += f"; and {more} more error(s) not listed (SERVICE_MAX_VALIDATION_ERRORS={limit})"
    record_invalid(request, [field_name(e.get("loc", ())) for e in errors], listed=limit)
    return JSONResponse({"detail": detail_list, "message": message}, status_code=422)
