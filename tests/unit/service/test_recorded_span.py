"""The recorded span against the SDK's own: the same calls give the span processors the same ReadableSpan.

Each case makes the same calls on a span from `SpanRecorder` and on one from the SDK's tracer (same resource, scope
and span limits), then compares what an in-memory exporter received, field by field except the ids and times.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, SynchronousMultiSpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from service.observability.recorded_span import SpanRecorder

ATTRIBUTES: dict[str, Any] = {"http.request.method": "POST", "url.path": "/predict", "server.port": 8080}
PARENT = SpanContext(
    0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, True, TraceFlags(1), TraceState([("a", "1")])
)


class Both:
    """An SDK tracer and a recorder over one provider's processors, with the limits given."""

    def __init__(self, limits: SpanLimits) -> None:
        self.memory = InMemorySpanExporter()
        processor = SynchronousMultiSpanProcessor()
        resource = Resource.create({"service.name": "test"})
        provider = TracerProvider(active_span_processor=processor, resource=resource, span_limits=limits)
        provider.add_span_processor(SimpleSpanProcessor(self.memory))
        self.tracer = provider.get_tracer("test-scope")
        self.recorder = SpanRecorder(processor, provider, "test-scope", limits)

    def run(self, calls: Callable[[trace.Span], None], parent: SpanContext | None = None) -> tuple[ReadableSpan, ...]:
        context = trace.set_span_in_context(trace.NonRecordingSpan(parent)) if parent is not None else None
        sdk = self.tracer.start_span("POST /predict", context, kind=SpanKind.SERVER, attributes=dict(ATTRIBUTES))
        recorded = self.recorder.start("POST /predict", parent, SpanKind.SERVER, dict(ATTRIBUTES))
        for span in (sdk, recorded):
            calls(span)
            span.end()
        return self.memory.get_finished_spans()


def fields(span: ReadableSpan) -> dict[str, Any]:
    """What the exporter encodes, but the ids and times: those are each span's own."""
    return {
        "name": span.name,
        "kind": span.kind,
        "parent": span.parent,
        "flags": span.context.trace_flags if span.context else None,
        "trace_state": span.context.trace_state if span.context else None,
        "attributes": dict(span.attributes or {}),
        "dropped_attributes": span.dropped_attributes,
        "events": [(event.name, dict(event.attributes or {})) for event in span.events],
        "dropped_events": span.dropped_events,
        "status": (span.status.status_code, span.status.description),
        "resource": span.resource,
        "scope": span.instrumentation_scope,
    }


def same(
    calls: Callable[[trace.Span], None], limits: SpanLimits | None = None, parent: SpanContext | None = None
) -> dict[str, Any]:
    sdk, recorded = Both(limits or SpanLimits()).run(calls, parent)
    assert fields(recorded) == fields(sdk)
    assert (
        recorded.end_time is not None and recorded.start_time is not None and recorded.start_time <= recorded.end_time
    )
    return fields(recorded)


def test_a_plain_span() -> None:
    recorded = same(lambda span: span.set_attribute("http.response.status_code", 200))
    assert recorded["attributes"] == {**ATTRIBUTES, "http.response.status_code": 200}
    assert recorded["parent"] is None and recorded["flags"].sampled


def test_a_child_of_a_remote_parent_keeps_its_trace_and_trace_state() -> None:
    recorded = same(lambda span: None, parent=PARENT)
    assert recorded["parent"] == PARENT and recorded["trace_state"] == PARENT.trace_state


def test_renamed_and_attributes_set_together() -> None:
    def calls(span: trace.Span) -> None:
        span.update_name("POST /models/{name}")
        span.set_attributes({"http.route": "/models/{name}", "error.type": "503"})

    assert same(calls)["name"] == "POST /models/{name}"


@pytest.mark.parametrize(
    "statuses",
    [
        [Status(StatusCode.ERROR)],
        [StatusCode.ERROR, StatusCode.UNSET],  # UNSET is never set
        [(StatusCode.ERROR, "boom")],  # a description with a StatusCode
        [Status(StatusCode.OK), Status(StatusCode.ERROR)],  # OK is final
        [Status(StatusCode.UNSET)],
    ],
)
def test_the_status_follows_the_sdk_s_rules(statuses: list[Any]) -> None:
    def calls(span: trace.Span) -> None:
        for status in statuses:
            span.set_status(*status) if isinstance(status, tuple) else span.set_status(status)

    same(calls)


def test_an_exception_is_an_event_with_the_sdk_s_attributes() -> None:
    def calls(span: trace.Span) -> None:
        try:
            raise ValueError("bad record")
        except ValueError as exc:
            span.record_exception(exc, {"extra": 1}, escaped=True)

    (event,) = same(calls)["events"]
    assert event[0] == "exception" and event[1]["exception.type"] == "ValueError"


def test_values_the_sdk_cleans_are_cleaned() -> None:
    def calls(span: trace.Span) -> None:
        span.set_attribute("sizes", [1, 2])  # a list becomes a tuple
        span.set_attribute("nothing", None)
        span.set_attribute("", "empty key")  # dropped
        span.set_attribute(1, "a key not a string")  # type: ignore[arg-type]  # dropped, counted

    assert same(calls)["attributes"]["sizes"] == (1, 2)


def test_the_span_limits_apply() -> None:
    limits = SpanLimits(max_span_attributes=2, max_attribute_length=4, max_events=1, max_event_attributes=1)

    def calls(span: trace.Span) -> None:
        span.set_attribute("user_agent.original", "a long agent")
        span.add_event("first", {"a": "12345", "b": 2})
        span.add_event("second")

    recorded = same(calls, limits)
    assert recorded["dropped_attributes"] > 0 and recorded["dropped_events"] == 1


def test_a_value_changed_after_it_was_set_is_kept_as_it_was_set() -> None:
    def calls(span: trace.Span) -> None:
        sizes = [1, 2]
        span.set_attribute("sizes", sizes)
        sizes.append(3)

    assert same(calls)["attributes"]["sizes"] == (1, 2)


@pytest.mark.parametrize("count", [0, 3, 4])
def test_an_attribute_set_again_is_the_newest_under_a_count_limit(count: int) -> None:
    def calls(span: trace.Span) -> None:
        span.set_attribute("x", 1)
        span.set_attribute("http.request.method", "GET")  # set again: the oldest is now url.path
        span.set_attribute("y", 2)

    same(calls, SpanLimits(max_span_attributes=count))


def test_a_value_that_cannot_be_cleaned_fails_where_it_is_set() -> None:
    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no text")

    def calls(span: trace.Span) -> None:
        with pytest.raises(RuntimeError):
            span.set_attribute("odd", Unprintable())  # type: ignore[arg-type]

    assert "odd" not in same(calls)["attributes"]


def test_an_ended_span_stays_as_it_ended() -> None:
    recorder = Both(SpanLimits()).recorder
    span = recorder.start("GET", None, SpanKind.SERVER, {})
    span.end()
    span.set_attribute("late", 1)
    span.update_name("late")
    span.add_event("late")
    span.set_status(Status(StatusCode.ERROR))
    span.end()
    assert not span.is_recording()
    assert (span.name, span.attributes, span.events, span.status.status_code) == ("GET", {}, (), StatusCode.UNSET)
