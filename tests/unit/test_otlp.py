"""The service's OTLP span encoder writes exactly the message the exporter library writes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as library_encode
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from service.observability import otlp


class Keep(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


def finished_spans() -> list[ReadableSpan]:
    """Spans of every kind the encoder must handle, from two resources and three scopes."""
    kept = Keep()
    providers = [
        TracerProvider(resource=Resource.create({"service.name": "a"}, schema_url="https://example.com/1")),
        TracerProvider(resource=Resource.create({"service.name": "b", "deployment": ["x", "y"]})),
    ]
    for provider in providers:
        provider.add_span_processor(SimpleSpanProcessor(kept))
    server = providers[0].get_tracer("asgi", "1.0", schema_url="https://example.com/s")
    service = providers[0].get_tracer("service")
    remote = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1), trace_state=TraceState([("k", "v")]))
    attributes: dict[str, Any] = {
        "s": "text",
        "b": True,
        "i": 8000,
        "f": 0.25,
        "big": 2**70,
        "list": [1, 2],
        "bytes": b"\x00",
    }
    with server.start_as_current_span(
        "POST /v1/predict", context=trace.set_span_in_context(trace.NonRecordingSpan(remote)), kind=SpanKind.SERVER
    ) as span:
        span.set_attributes(attributes)
        with service.start_span("model.predict", attributes={"model.batch_size": 3}):
            pass
        span.set_status(Status(StatusCode.ERROR, "boom"))
    with service.start_span("with events and links", links=[Link(remote, {"l": 1})]) as span:
        span.add_event("happened", {"e": "1"})
    with providers[1].get_tracer("other").start_span("plain root"):
        pass
    return kept.spans


def test_the_encoding_equals_the_library_s() -> None:
    spans = finished_spans()
    ours = otlp.encode_spans(spans)
    theirs = ExportTraceServiceRequest.FromString(library_encode(spans).SerializeToString())
    assert ours == theirs
    assert len(ours.resource_spans) == 2 and len(ours.resource_spans[0].scope_spans) == 2
    assert ours.SerializeToString(deterministic=True) == theirs.SerializeToString(deterministic=True)


def test_install_puts_it_in_the_http_exporter() -> None:
    from opentelemetry.exporter.otlp.proto.http import trace_exporter

    original = trace_exporter.encode_spans
    try:
        assert otlp.install()
        assert trace_exporter.encode_spans is otlp.encode_spans
    finally:
        trace_exporter.encode_spans = original
