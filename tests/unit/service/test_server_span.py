"""The server span layer on its own: a tiny ASGI app, a tracer provider of the test's, spans kept in memory.

The name and attributes are the stable HTTP semantic conventions', as opentelemetry-instrumentation-asgi 0.66
wrote them for this service before this layer replaced it (with `server.address` without the port).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry import baggage, propagate, trace
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, SynchronousMultiSpanProcessor, TracerProvider, sampling
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import Message, Receive, Scope, Send

from service.observability.recorded_span import SpanRecorder
from service.observability.server_span import Sampling, ServerSpans, split_host

pytestmark = pytest.mark.anyio
PARENT_TRACE = 0x0AF7651916CD43DD8448EB211C80319C
EVERY_REQUEST = Sampling(1.0, True)


@dataclass
class Route:
    """What Starlette's router leaves in the scope for a matched route (the layer reads its `path`)."""

    path: str


class App:
    """Answers `status` (or raises `error`), sets `scope["route"]` when given one, notes the current span."""

    def __init__(self, status: int = 200, route: str | None = None, error: BaseException | None = None) -> None:
        self.status, self.route, self.error = status, route, error
        self.calls = 0
        self.current: trace.Span | None = None
        self.baggage: dict[str, object] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        self.current = trace.get_current_span()
        self.baggage = dict(baggage.get_all())
        if self.route is not None:
            scope["route"] = Route(self.route)
        if self.error is not None:
            raise self.error
        await send({"type": "http.response.start", "status": self.status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


def scope(method: str = "POST", path: str = "/predict", headers: list[tuple[bytes, bytes]] | None = None) -> Scope:
    return {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "query_string": b"patient=alice",
        "headers": [(b"host", b"model.example:8080"), (b"user-agent", b"wrk/4"), *(headers or [])],
        "client": ("10.1.2.3", 5555),
        "server": ("127.0.0.1", 8000),
    }


def traceparent(flag: str = "01") -> tuple[bytes, bytes]:
    return b"traceparent", f"00-{PARENT_TRACE:032x}-b7ad6b7169203331-{flag}".encode()


class Traces:
    """A provider whose spans are kept in memory; with `recorded`, the layer records the sampled spans itself
    (recorded_span.py), as `tracing.setup` has it, else the SDK's tracer makes every span."""

    def __init__(self, recorded: bool) -> None:
        self.memory = InMemorySpanExporter()
        processor = SynchronousMultiSpanProcessor()
        self.provider = TracerProvider(
            sampler=sampling.ParentBased(sampling.ALWAYS_ON), active_span_processor=processor
        )
        self.provider.add_span_processor(SimpleSpanProcessor(self.memory))
        # The sampler `tracing.setup` gives a gate that is not parent-based; the same processors.
        self.always_on = TracerProvider(sampler=sampling.ALWAYS_ON, active_span_processor=processor)
        self.recorder = SpanRecorder(processor, self.provider, "test", SpanLimits()) if recorded else None

    def layer(self, app: App, sampling_: Sampling | None = EVERY_REQUEST, **options: Any) -> ServerSpans:
        options = {"static": {"/predict"}, "excluded": {"/metrics"}, "recorder": self.recorder, **options}
        provider = self.always_on if sampling_ is not None and not sampling_.parent_based else self.provider
        return ServerSpans(app, provider.get_tracer("test"), sampling_, **options)

    def spans(self) -> tuple[ReadableSpan, ...]:
        return self.memory.get_finished_spans()


@pytest.fixture(params=[True, False], ids=["recorded", "sdk"])
def traces(request: pytest.FixtureRequest) -> Traces:
    return Traces(recorded=request.param)


async def call(layer: ServerSpans, request: Scope) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await layer(request, receive, send)
    return sent


async def test_a_static_route_s_span_has_the_stable_http_attributes(traces: Traces) -> None:
    app = App()
    sent = await call(traces.layer(app), scope())
    (span,) = traces.spans()
    assert (span.name, span.kind, span.status.status_code) == ("POST /predict", trace.SpanKind.SERVER, StatusCode.UNSET)
    assert dict(span.attributes or {}) == {
        "http.request.method": "POST",
        "url.scheme": "http",
        "url.path": "/predict",
        "network.protocol.version": "1.1",
        "server.address": "model.example",
        "server.port": 8080,
        "user_agent.original": "wrk/4",
        "http.route": "/predict",
        "http.response.status_code": 200,
    }
    assert app.current is not None and app.current.get_span_context() == span.context  # current inside the app
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]


async def test_a_route_with_parameters_is_named_by_the_template_the_app_matched(traces: Traces) -> None:
    await call(traces.layer(App(route="/models/{name}")), scope("GET", "/models/alice"))
    (span,) = traces.spans()
    assert span.name == "GET /models/{name}"
    assert (span.attributes or {})["http.route"] == "/models/{name}"


async def test_an_unmatched_path_is_named_by_its_method_alone(traces: Traces) -> None:
    await call(traces.layer(App(status=404)), scope("GET", "/no/such/path"))
    (span,) = traces.spans()
    assert span.name == "GET" and "http.route" not in (span.attributes or {})
    assert span.status.status_code is StatusCode.UNSET  # a client's error is not the server's


async def test_an_unknown_method_is_other_and_named_http(traces: Traces) -> None:
    await call(traces.layer(App(status=405)), scope("BREW", "/predict"))
    await call(traces.layer(App(status=404)), scope("BREW", "/no/such/path"))
    routed, unrouted = traces.spans()
    attributes = dict(routed.attributes or {})
    assert routed.name == "HTTP /predict" and unrouted.name == "HTTP"
    assert attributes["http.request.method"] == "_OTHER" and attributes["http.request.method_original"] == "BREW"


async def test_a_5xx_answer_is_an_error(traces: Traces) -> None:
    await call(traces.layer(App(status=503)), scope())
    (span,) = traces.spans()
    assert span.status.status_code is StatusCode.ERROR and (span.attributes or {})["error.type"] == "503"


async def test_an_exception_that_escapes_is_an_error_and_still_raised(traces: Traces) -> None:
    with pytest.raises(RuntimeError):
        await call(traces.layer(App(error=RuntimeError("boom"))), scope())
    (span,) = traces.spans()
    assert span.status.status_code is StatusCode.ERROR and (span.attributes or {})["error.type"] == "RuntimeError"
    assert [event.name for event in span.events] == ["exception"]
    assert trace.get_current_span() is trace.INVALID_SPAN  # the request's context is detached


async def test_an_exception_recorded_inside_is_not_recorded_twice(traces: Traces) -> None:
    """The request middleware records what escapes the app, then re-raises it once the answer has started."""

    class Recording(App):
        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            error = RuntimeError("boom")
            trace.get_current_span().record_exception(error)
            raise error

    with pytest.raises(RuntimeError):
        await call(traces.layer(Recording()), scope())
    (span,) = traces.spans()
    assert [event.name for event in span.events] == ["exception"]


async def test_a_cancelled_request_is_not_an_error(traces: Traces) -> None:
    """Cancelled at shutdown: the span ends, without the server's error on it."""
    with pytest.raises(asyncio.CancelledError):
        await call(traces.layer(App(error=asyncio.CancelledError())), scope())
    (span,) = traces.spans()
    assert span.status.status_code is StatusCode.UNSET and "error.type" not in (span.attributes or {})


async def test_the_query_and_the_client_only_with_details(traces: Traces) -> None:
    await call(traces.layer(App()), scope())
    await call(traces.layer(App(), details=True), scope())
    redacted, detailed = (dict(s.attributes or {}) for s in traces.spans())
    assert not {"url.query", "client.address", "client.port"} & set(redacted)
    assert (detailed["url.query"], detailed["client.address"], detailed["client.port"]) == (
        "patient=alice",
        "10.1.2.3",
        5555,
    )


async def test_a_sampled_parent_s_trace_is_continued(traces: Traces) -> None:
    await call(traces.layer(App(), Sampling(0.0, True)), scope(headers=[traceparent("01")]))
    (span,) = traces.spans()
    assert span.context.trace_id == PARENT_TRACE and span.parent is not None
    assert span.parent.span_id == 0xB7AD6B7169203331


async def test_an_unsampled_parent_records_nothing_but_its_trace_id_is_current(traces: Traces) -> None:
    app = App()
    await call(traces.layer(app, Sampling(1.0, True)), scope(headers=[traceparent("00")]))
    assert traces.spans() == ()
    assert app.current is not None and app.current.get_span_context().trace_id == PARENT_TRACE


async def test_a_root_the_gate_does_not_sample_goes_straight_to_the_app(
    traces: Traces, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = App()
    layer = traces.layer(app, Sampling(0.0, True))

    async def traced(*args: Any) -> None:
        raise AssertionError("the traced path was taken")

    monkeypatch.setattr(layer, "_traced", traced)
    await call(layer, scope())
    assert app.calls == 1 and app.current is trace.INVALID_SPAN


async def test_without_a_gate_the_sdk_s_sampler_decides(traces: Traces) -> None:
    traces.provider = TracerProvider(sampler=sampling.ALWAYS_OFF)
    traces.provider.add_span_processor(SimpleSpanProcessor(traces.memory))
    app = App()
    await call(traces.layer(app, None), scope())
    assert traces.spans() == () and app.calls == 1


async def test_excluded_paths_and_other_protocols_are_not_traced(traces: Traces) -> None:
    app = App()
    await call(traces.layer(app), scope("GET", "/metrics"))
    await call(traces.layer(app), {**scope(), "type": "websocket"})
    assert traces.spans() == () and app.calls == 2


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("model.example", ("model.example", 8000)),
        ("model.example:8080", ("model.example", 8080)),
        ("[::1]", ("::1", 8000)),
        ("[::1]:9000", ("::1", 9000)),
        ("::1", ("::1", 8000)),
        ("model.example:http", ("model.example", 8000)),
        ("model.example:\u00b2", ("model.example", 8000)),  # a digit to str.isdigit, not to int
    ],
)
def test_the_server_address_and_port_come_from_the_host_header(host: str, expected: tuple[str, int]) -> None:
    assert split_host(host, 8000) == expected


@pytest.mark.parametrize(("ratio", "drawn"), [(0.0, 0), (1.0, 1000)])
def test_the_gate_samples_its_ratio_of_roots(ratio: float, drawn: int) -> None:
    assert sum(Sampling(ratio, True).drawn() for _ in range(1000)) == drawn


async def test_a_parent_is_followed_only_when_parent_based(traces: Traces) -> None:
    await call(traces.layer(App(), Sampling(0.0, False)), scope(headers=[traceparent("01")]))
    assert traces.spans() == ()


async def test_a_gate_that_is_not_parent_based_records_a_child_of_an_unsampled_parent(traces: Traces) -> None:
    await call(traces.layer(App(), Sampling(1.0, False)), scope(headers=[traceparent("00")]))
    (span,) = traces.spans()
    assert span.context.trace_id == PARENT_TRACE and span.context.trace_flags.sampled


@pytest.mark.parametrize(
    ("header", "baggage_in_app"),
    [((b"baggage", b"tenant=clinic"), {"tenant": "clinic"}), ((b"traceparent", b"00-not-a-parent-01"), {})],
    ids=["baggage alone", "a malformed traceparent"],
)
async def test_headers_that_name_no_parent_make_a_root_which_the_ratio_decides(
    traces: Traces, header: tuple[bytes, bytes], baggage_in_app: dict[str, str]
) -> None:
    app = App()
    await call(traces.layer(app, Sampling(0.0, True)), scope(headers=[header]))
    assert traces.spans() == () and app.calls == 1
    await call(traces.layer(app, Sampling(1.0, True)), scope(headers=[header]))
    (span,) = traces.spans()
    assert span.parent is None and app.baggage == baggage_in_app


async def test_the_propagators_fields_are_the_parent_s_headers(traces: Traces, monkeypatch: pytest.MonkeyPatch) -> None:
    """With another propagator (OTEL_PROPAGATORS), its headers carry the parent, and `traceparent` does not."""
    monkeypatch.setattr(propagate, "get_global_textmap", lambda: Renamed())
    layer = traces.layer(App(), Sampling(0.0, True))
    await call(layer, scope(headers=[traceparent("01")]))
    assert traces.spans() == ()
    await call(layer, scope(headers=[(b"x-parent", traceparent("01")[1])]))
    (span,) = traces.spans()
    assert span.context.trace_id == PARENT_TRACE


class Renamed(TraceContextTextMapPropagator):
    """W3C trace context under another header name: a propagator whose fields are not `traceparent`."""

    def extract(self, carrier: Any, context: Any = None, getter: Any = None) -> Any:
        return super().extract({"traceparent": getter.get(carrier, "x-parent") or []}, context)

    @property
    def fields(self) -> set[str]:
        return {"x-parent"}
