"""The outermost request middleware: request id, route template, metrics, the log line, the last-resort 500.

A pure ASGI middleware, not Starlette's BaseHTTPMiddleware (which runs the endpoint in another task
and copies the response through a stream: tens of µs a request, and context variables lost). The
hot path is a handful of dictionary look-ups, one histogram observation on a cached child, and one
JSON line rendered by orjson.

The route template is a dict look-up for the static routes, the matched route's template afterwards
for the others, "unmatched" for everything unknown, so no raw path becomes a label. Whatever runs
inside the request (the endpoints, load shedding, fault injection) adds its own fields to the line
with `log_fields.bind`: the request's fields are a context variable this middleware sets when the
request starts and resets when it ends (log_fields.py). An exception from the app becomes a logged 500
(with its stack) here, once.

It runs inside the server span when tracing is on (server_span.ServerSpans wraps the whole
middleware stack), so the current span is the request's: its trace id goes in the log
line and, when sampled, as the latency observation's exemplar.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Awaitable
from typing import Any

from opentelemetry import trace
from starlette.routing import Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contract.routes import UNMATCHED
from service.observability import log_fields, metrics, tracing
from service.observability.logging import logger
from service.observability.routes import static_paths

_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:/+=-]{1,128}")
_LEVELS = {2: "info", 3: "info", 4: "warning", 5: "error"}
_INTERNAL_ERROR = b'{"detail":"internal server error"}'
_getrandbits = random.getrandbits


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
    def __init__(self, app: ASGIApp, *, router: Router, instrument: bool, tracing_on: bool) -> None:
        self.app = app
        self.router = router
        self.instrument = instrument
        self.tracing_on = tracing_on
        self.in_flight = 0
        if instrument and not metrics.MULTIPROCESS:
            # Read at scrape time: no gauge update on the request path.
            metrics.IN_FLIGHT.set_function(lambda: self.in_flight)
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
        # From the application's start, as before admission by time: the wait in the worker's queue before it is
        # http_server_queue_delay_seconds (service/admission.py). Counting it here too would make the server-side
        # latency SLO see the in-worker queue; the overload drill shows the client-side SLO seeing what the
        # server-side ones cannot, and a one-line change (the Timing's arrival) would move that line.
        start = time.perf_counter()
        path = scope["path"]
        static = self._static if self._static is not None else self._templates()
        route = path if path in static else None
        request_id = _request_id(scope["headers"])
        # The server span, if tracing is on (it wraps this middleware): looked up once per request.
        span = trace.get_current_span() if self.tracing_on else None
        status = 500
        started = False
        error: Exception | None = None

        def send_with_id(message: Message) -> Awaitable[None]:
            # Not a coroutine: the server's send is awaited directly (no frame of its own for each message).
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", request_id)]
            return send(message)

        fields, token = log_fields.start() if self.instrument else ({}, None)
        if self.instrument:
            self.in_flight += 1
            if metrics.MULTIPROCESS:
                metrics.IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if self.tracing_on:
                current = trace.get_current_span()
                if current.is_recording():
                    current.record_exception(exc)
            if started:
                raise
            # Logged here with its stack, once; no re-raise, so uvicorn does not log it a second time.
            error = exc
            await send_with_id(
                {"type": "http.response.start", "status": 500, "headers": [(b"content-type", b"application/json")]}
            )
            await send_with_id({"type": "http.response.body", "body": _INTERNAL_ERROR})
        finally:
            if token is not None:  # whatever happened (an exception, a cancelled request): none outlives it
                log_fields.end(token)
            if self.instrument:
                self.in_flight -= 1
                if metrics.MULTIPROCESS:
                    metrics.IN_FLIGHT.dec()
        if self.instrument:
            if error is not None:
                fields["exc_info"] = error
            self._record(scope, route, status, time.perf_counter() - start, request_id, fields, span)

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
            child.observe(seconds, {"trace_id": trace_id})  # type: ignore[dict-item]  # sampled: an id
        else:
            child.observe(seconds)
        level = _LEVELS.get(status // 100, "error")
        line = {
            "request_id": request_id.decode(),
            "trace_id": trace_id,
            "span_id": span_id,
            "method": method,
            "route": route,
            "status_code": status,
            "duration_ms": round(seconds * 1000, 3),
        }
        # The middleware's own keys win over a bound field of the same name (passed as a second keyword it
        # would be a TypeError here, after the answer was sent, and no log line at all).
        for key, value in fields.items():
            if key not in line and key != "event":
                line[key] = value
        getattr(self.log, level)("request", **line)
