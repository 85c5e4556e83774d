"""The server span of a traced request: the head-sampling decision, then one span per sampled request.

Why not opentelemetry-instrumentation-asgi/-fastapi: on this service's request path they cost about 160 µs per
sampled request (route matching again for the span name, attribute dictionaries built, cleaned and set twice,
every header look-up decoding all the headers, OTel metrics for a no-op meter, wrapped send and receive) and a
layer of coroutines for every request. This layer gives the span the same name and the stable HTTP semantic
conventions' attributes (`http.request.method`, `url.path`, `http.route`, `http.response.status_code`, ...) for
a fraction of that (docs/performance.md), with the SDK's own propagators and span processors; a span to be
recorded is recorded by `recorded_span.SpanRecorder` (that module says why), the others come from the SDK's tracer.

The decision comes first, from OTEL_TRACES_SAMPLER(_ARG) as `Sampling` says: a request that will not be sampled
costs one look through its header names for the propagators' (`traceparent`, `tracestate`, `baggage` by default)
and one random draw, and the app is called as if this layer were not there. A request with propagation headers
is decided once they are read: a valid parent's sampled flag when the gate is parent-based, the ratio otherwise.

The query string and the client's address are left out unless `details` (SERVICE_TRACE_REQUEST_DETAILS): a span
outlives the request in a trace store many people read, and both can identify a person.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Collection
from dataclasses import dataclass
from typing import Any

from opentelemetry import context, propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.observability.recorded_span import SpanRecorder
from service.observability.routes import METHODS

Headers = list[tuple[bytes, bytes]]


class _AsgiHeaders(Getter[Headers]):
    """The propagators' view of an ASGI header list (names are lower-case bytes there)."""

    def get(self, carrier: Headers, key: str) -> list[str] | None:
        name = key.lower().encode("latin-1")
        values = [value.decode("latin-1") for field, value in carrier if field == name]
        return values or None

    def keys(self, carrier: Headers) -> list[str]:
        return [field.decode("latin-1") for field, _ in carrier]


HEADERS = _AsgiHeaders()


@dataclass(frozen=True)
class Sampling:
    """The head-sampling decision for a request: `ratio` of the roots; with `parent_based`, a request whose
    propagation headers name a valid parent follows the parent's sampled flag instead."""

    ratio: float
    parent_based: bool

    def drawn(self) -> bool:
        """The ratio's draw for a root."""
        return self.ratio >= 1.0 or random.random() < self.ratio


def split_host(host: str, default_port: int | None) -> tuple[str, int | None]:
    """`server.address` and `server.port` from a Host header: "name", "name:port", "[v6]" or "[v6]:port"."""
    if host.startswith("["):
        end = host.find("]")
        address, rest = (host[1:end], host[end + 1 :]) if end > 0 else (host, "")
        port = rest[1:] if rest.startswith(":") else ""
    elif host.count(":") == 1:
        address, port = host.split(":")
    else:
        address, port = host, ""
    # (isascii: "²" is a digit to str.isdigit, not to int; a Host header is anyone's bytes)
    return address, int(port) if port.isascii() and port.isdigit() else default_port


class ServerSpans:
    """The outermost layer when tracing is on: a SERVER span around the app for the requests `sampling` traces.

    `sampling` None: the SDK's sampler decides for every request (a sampler the gate does not know). `recorder`:
    where the sampled spans are recorded (recorded_span.py; the SDK's tracer makes the others, and all of them
    without a recorder). `static`: the route templates without parameters (the span's name and `http.route` known
    at the start); for the others the matched route's template is read from the scope afterwards. `excluded`:
    paths never traced (scrapes, probes). The propagation headers looked for are the global propagator's fields
    when the layer is made (OTEL_PROPAGATORS).
    """

    def __init__(
        self,
        app: ASGIApp,
        tracer: trace.Tracer,
        sampling: Sampling | None,
        *,
        static: Collection[str],
        excluded: Collection[str],
        details: bool = False,
        recorder: SpanRecorder | None = None,
    ) -> None:
        self.app = app
        self.tracer = tracer
        self.sampling = sampling
        self.recorder = recorder if sampling is not None else None
        self.static = frozenset(static)
        self.excluded = frozenset(excluded)
        self.details = details
        self.fields = frozenset(field.lower().encode("latin-1") for field in propagate.get_global_textmap().fields)

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine itself: an untraced request awaits the app's coroutine directly (no frame of its own).
        if scope["type"] != "http" or scope["path"] in self.excluded:
            return self.app(scope, receive, send)
        sampling = self.sampling
        if sampling is None:
            return self._traced(scope, receive, send, True)
        carried = self._carries(scope["headers"])
        # A parent-based gate draws for a request with propagation headers only once they name no valid parent.
        if (carried and sampling.parent_based) or sampling.drawn():
            return self._traced(scope, receive, send, carried)
        return self.app(scope, receive, send)

    def _carries(self, headers: Headers) -> bool:
        fields = self.fields
        for name, _ in headers:  # noqa: SIM110 (a plain loop: any() over a generator costs a frame a request)
            if name in fields:
                return True
        return False

    async def _traced(self, scope: Scope, receive: Receive, send: Send, carried: bool) -> None:
        parent = propagate.extract(scope["headers"], getter=HEADERS) if carried else Context()
        remote = trace.get_current_span(parent).get_span_context()
        sampling = self.sampling
        if sampling is not None and sampling.parent_based and carried and not remote.is_valid and not sampling.drawn():
            await self.app(scope, receive, send)  # a root after all, which the ratio did not draw
            return
        method = scope["method"]
        known = method if method in METHODS else None
        route = scope["path"] if scope["path"] in self.static else None
        span = self._start(_name(known, route), parent, remote, self._attributes(scope, known, route))
        token = context.attach(trace.set_span_in_context(span, parent))
        status: int | None = None
        error: str | None = None

        def send_status(message: Message) -> Awaitable[None]:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            return send(message)  # (not a coroutine: the server's send is awaited directly)

        try:
            await self.app(scope, receive, send_status)
        except Exception as exc:  # (not BaseException: a cancelled request, at shutdown, is not the server's error)
            error = type(exc).__qualname__
            # The request middleware inside records what escapes the app; this, what escapes the layers around it.
            if span.is_recording() and not any(event.name == "exception" for event in getattr(span, "events", ())):
                span.record_exception(exc)
            raise
        finally:
            context.detach(token)
            if span.is_recording():
                _finish(span, known, route, scope, status, error)
            span.end()

    def _start(self, name: str, parent: Context, remote: SpanContext, attributes: dict[str, Any]) -> trace.Span:
        """The recorder's span for what is to be recorded, the SDK's for the rest (its sampler decides there)."""
        recorder, sampling = self.recorder, self.sampling
        if recorder is not None and sampling is not None:
            if not remote.is_valid:
                return recorder.start(name, None, SpanKind.SERVER, attributes)
            if remote.trace_flags.sampled or not sampling.parent_based:
                return recorder.start(name, remote, SpanKind.SERVER, attributes)
        return self.tracer.start_span(name, parent, kind=SpanKind.SERVER, attributes=attributes)

    def _attributes(self, scope: Scope, method: str | None, route: str | None) -> dict[str, Any]:
        server = scope.get("server") or (None, None)
        host = user_agent = None
        for name, value in scope["headers"]:
            if name == b"host":
                host = value.decode("latin-1")
            elif name == b"user-agent":
                user_agent = value.decode("latin-1")
        address, port = split_host(host, server[1]) if host else server
        attributes: dict[str, Any] = {
            "http.request.method": method or "_OTHER",
            "url.scheme": scope.get("scheme", "http"),
            "url.path": scope["path"],
            "network.protocol.version": scope.get("http_version", "1.1"),
        }
        if method is None:
            attributes["http.request.method_original"] = scope["method"]
        optional = {"server.address": address, "server.port": port, "user_agent.original": user_agent}
        if route is not None:
            optional["http.route"] = route
        if self.details:
            client = scope.get("client") or (None, None)
            optional.update({"client.address": client[0], "client.port": client[1]})
            optional["url.query"] = scope.get("query_string", b"").decode("latin-1") or None
        attributes.update((key, value) for key, value in optional.items() if value is not None)
        return attributes


def _name(method: str | None, route: str | None) -> str:
    """The span's name as the semantic conventions say: "{method} {route}" or the method alone, where the method
    is "HTTP" when it is not a known one."""
    method = method or "HTTP"
    return f"{method} {route}" if route is not None else method


def _finish(
    span: Any, method: str | None, route: str | None, scope: Scope, status: int | None, error: str | None
) -> None:
    """What is known once the app has answered: the matched route's template, the status code, an error."""
    attributes: dict[str, Any] = {}
    if route is None:
        template = getattr(scope.get("route"), "path", None)
        if isinstance(template, str):
            attributes["http.route"] = template
            span.update_name(_name(method, template))
    if status is not None:
        attributes["http.response.status_code"] = status
    if error is None and status is not None and status >= 500:
        error = str(status)
    if error is not None:
        attributes["error.type"] = error
        span.set_status(Status(StatusCode.ERROR))
    span.set_attributes(attributes)
