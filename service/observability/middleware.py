"""The one request middleware: request id, route template, overload protection, faults, metrics, log line.

A pure ASGI middleware, not Starlette's BaseHTTPMiddleware (which runs the endpoint in another task
and copies the response through a stream: tens of µs a request, and context variables lost). The
hot path is a handful of dictionary look-ups, one histogram observation on a cached child, and one
JSON line rendered by orjson.

Order per request: route template (a dict look-up for the static routes, the matched route's
template afterwards for the others, "unmatched" for everything unknown, so no raw path becomes a
label); overload protection (prediction routes over SERVICE_MAX_CONCURRENT_PREDICTIONS: 503 +
Retry-After at once); injected faults; the app; then the metrics and the log line. The endpoints
add their own fields to the line (model version, charges, invalid fields) through `notes()`.
An exception from the app becomes a logged 500 (with its stack) here, once.

It runs inside the OpenTelemetry server span when tracing is on (the FastAPI instrumentation wraps
the whole middleware stack), so the current span is the request's: its trace id goes in the log
line and, when sampled, as the latency observation's exemplar.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

import orjson
from opentelemetry import trace
from starlette.routing import Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contract.routes import PREDICTION_ROUTES, UNMATCHED
from service.observability import metrics, tracing
from service.observability.logging import logger
from service.observability.routes import static_paths

if TYPE_CHECKING:
    from service.faults import Faults

#: Where the endpoints find the request's `Notes` (absent: instrumentation off).
NOTES = "service.notes"
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:/+=-]{1,128}")
_LEVELS = {2: "info", 3: "info", 4: "warning", 5: "error"}
_getrandbits = random.getrandbits


class Notes:
    """What an endpoint adds to its request's log line, and what it needs to know to do so."""

    __slots__ = ("fields", "log_inputs", "traced")

    def __init__(self, fields: dict[str, Any], traced: bool, log_inputs: bool) -> None:
        self.fields = fields
        self.traced = traced  # the request is sampled: its spans are recorded
        self.log_inputs = log_inputs


def notes(scope: MutableMapping[str, Any]) -> Notes | None:
    """The request's notes, for an endpoint to add to; None when instrumentation is off."""
    return scope.get(NOTES)


def _request_id(headers: list[tuple[bytes, bytes]]) -> bytes:
    """The client's X-Request-ID if it is a sane token (no log injection), else a new random one.

    A request id must be unique, not secret: 128 bits from `random` (os.urandom is a system call, several
    µs on a VM; `random` is reseeded in a forked worker).
    """
    for name, value in headers:
        if name == b"x-request-id":
            if _REQUEST_ID.fullmatch(value):
                return value
            break
    return b"%032x" % _getrandbits(128)


class ObservabilityMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        router: Router,
        faults: Faults,
        instrument: bool,
        tracing_on: bool,
        log_inputs: bool,
        max_concurrent_predictions: int,
        retry_after_seconds: int,
    ) -> None:
        self.app = app
        self.router = router
        self.faults = faults
        self.instrument = instrument
        self.tracing_on = tracing_on
        self.log_inputs = log_inputs
        self.in_flight = 0
        if instrument and not metrics.MULTIPROCESS:
            # Read at scrape time: no gauge update on the request path.
            metrics.IN_FLIGHT.set_function(lambda: self.in_flight)
        self.max_predicting = max_concurrent_predictions
        self.predicting = 0
        self.shed_body = orjson.dumps({"detail": "overloaded: too many predictions in progress, retry later"})
        self.shed_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self.shed_body)).encode()),
            (b"retry-after", str(retry_after_seconds).encode()),
        ]
        self._static: set[str] | None = None
        self.log = logger()

    def _templates(self) -> set[str]:
        """The route templates without parameters (built on the first request: routes are final then)."""
        if self._static is None:
            self._static = static_paths(self.router.routes)
        return self._static

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        path = scope["path"]
        route = path if path in self._templates() else None
        request_id = _request_id(scope["headers"])
        fields: dict[str, Any] = {}
        # The server span, if tracing is on (it wraps this middleware): looked up once per request.
        span = trace.get_current_span() if self.tracing_on else None
        if self.instrument:
            scope[NOTES] = Notes(fields, span is not None and span.is_recording(), self.log_inputs)
        status = 500
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", request_id)]
            await send(message)

        predicting = route in PREDICTION_ROUTES
        if self.instrument:
            self.in_flight += 1
            if metrics.MULTIPROCESS:
                metrics.IN_FLIGHT.inc()
        try:
            if predicting and self.predicting >= self.max_predicting:
                metrics.SHED.labels(route).inc()
                fields["shed"] = True
                await self._answer(send_with_id, 503, self.shed_body, self.shed_headers)
            else:
                if predicting:
                    self.predicting += 1
                try:
                    if route is not None and self.faults.active:
                        await self._serve_with_faults(scope, receive, send_with_id, route, fields)
                    else:
                        await self.app(scope, receive, send_with_id)
                finally:
                    if predicting:
                        self.predicting -= 1
        except Exception as exc:
            if self.tracing_on:
                span = trace.get_current_span()
                if span.is_recording():
                    span.record_exception(exc)
            if started:
                raise
            # Logged here with its stack, once; no re-raise, so uvicorn does not log it a second time.
            fields["exc_info"] = exc
            body = b'{"detail":"internal server error"}'
            await self._answer(send_with_id, 500, body, [(b"content-type", b"application/json")])
        finally:
            if self.instrument:
                self.in_flight -= 1
                if metrics.MULTIPROCESS:
                    metrics.IN_FLIGHT.dec()
        if self.instrument:
            self._record(scope, route, status, time.perf_counter() - start, request_id, fields, span)

    async def _serve_with_faults(
        self, scope: Scope, receive: Receive, send: Send, route: str, fields: dict[str, Any]
    ) -> None:
        delay, error = self.faults.draw(route)
        if delay:
            metrics.FAULTS_INJECTED.labels(route, "latency").inc()
            fields["fault"] = "latency"
            fields["fault_delay_ms"] = round(delay * 1000, 3)
            await asyncio.sleep(delay)
        if error:
            metrics.FAULTS_INJECTED.labels(route, "error").inc()
            fields["fault"] = "error"
            await self._answer(send, 500, b'{"detail":"injected fault"}', [(b"content-type", b"application/json")])
            return
        await self.app(scope, receive, send)

    @staticmethod
    async def _answer(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _record(
        self,
        scope: Scope,
        route: str | None,
        status: int,
        seconds: float,
        request_id: bytes,
        fields: dict[str, Any],
        span: trace.Span | None,
    ) -> None:
        if route is None:
            matched = scope.get("route")
            route = getattr(matched, "path", None) or UNMATCHED
        method = scope["method"]
        trace_id = span_id = None
        sampled = False
        if span is not None:
            trace_id, span_id, sampled = tracing.span_ids(span)
        child = metrics.request_duration(method, route, status)
        if sampled:
            child.observe(seconds, {"trace_id": trace_id})  # type: ignore[arg-type]
        else:
            child.observe(seconds)
        level = _LEVELS.get(status // 100, "error")
        getattr(self.log, level)(
            "request",
            request_id=request_id.decode(),
            trace_id=trace_id,
            span_id=span_id,
            method=method,
            route=route,
            status_code=status,
            duration_ms=round(seconds * 1000, 3),
            **fields,
        )
