"""The server span as plain fields, handed to the span processors as the SDK's own ReadableSpan when it ends.

Why not the SDK's Span for it: that span is built for any caller in any thread. It takes a lock for every change,
cleans the attributes on every set, calls every processor's `on_start`, counts itself in the SDK's span metrics
(a no-op meter here) and, at its end, copies itself into a ReadableSpan. On this service's sampled request that is
most of what sampling costs beyond not sampling (docs/performance.md). The server span is owned by one request's
task and needs none of it: its attributes are checked once, at its end, by the same `BoundedAttributes` the SDK
uses (so the span limits of OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT and OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT apply), and what
the processors receive is the SDK's ReadableSpan, exported by the SDK's processors and exporters.

What the SDK's Span does that this one does not: processors' `on_start` is not called (the provider that
`tracing.setup` makes has batch exporters only, for which it does nothing), links are not kept (nothing gives a
server span links), and the SDK's own span metrics do not count it. tests/unit/service/test_recorded_span.py
compares what the processors receive from both for the same calls.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping, Sequence
from time import time_ns
from typing import Any

from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits, SpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.util import BoundedList
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util import types

_UNSET = Status(StatusCode.UNSET)
#: The attribute values that the SDK's cleaning keeps as they are (without a length limit).
_PLAIN = frozenset((str, bool, int, float))


class SpanRecorder:
    """Starts recorded spans for the instrumentation scope named `scope` (as the SDK's `get_tracer(scope)` names
    it), and hands each ended one to `processor`."""

    def __init__(
        self,
        processor: SpanProcessor,
        resource: Resource,
        scope: str,
        ids: IdGenerator,
        limits: SpanLimits,
    ) -> None:
        self.processor = processor
        self.resource = resource
        self.scope = InstrumentationScope(scope, "")
        self.ids = ids
        self.limits = limits
        random = ids.is_trace_id_random()
        self._root_flags = TraceFlags(TraceFlags.SAMPLED | (TraceFlags.RANDOM_TRACE_ID if random else 0))

    def start(self, name: str, parent: SpanContext | None, kind: SpanKind, attributes: dict[str, Any]) -> RecordedSpan:
        """A sampled span, the child of `parent` (a valid span context) or a new trace's root (None)."""
        if parent is None:
            trace_id, flags, state = self.ids.generate_trace_id(), self._root_flags, None
        else:
            random = TraceFlags.RANDOM_TRACE_ID if parent.trace_flags.random_trace_id else 0
            trace_id, flags, state = parent.trace_id, TraceFlags(TraceFlags.SAMPLED | random), parent.trace_state
        context = SpanContext(trace_id, self.ids.generate_span_id(), False, flags, state)
        return RecordedSpan(self, name, context, parent, kind, attributes)

    def end(self, span: RecordedSpan) -> None:
        readable = ReadableSpan(
            span.name,
            span.context,
            span.parent,
            self.resource,
            self._checked(span.attributes),
            span.events,
            (),
            span.kind,
            status=span.status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=self.scope,
        )
        self.processor.on_end(readable)

    def _checked(self, attributes: dict[str, Any]) -> types.Attributes:
        """The attributes as the SDK's span would keep them: as they are when each is a plain value and no limit
        bites (what the SDK's cleaning would leave unchanged), else through the SDK's `BoundedAttributes`."""
        limits = self.limits
        count = limits.max_span_attributes  # (None: no limit)
        if limits.max_span_attribute_length is None and (count is None or len(attributes) <= count):
            for key, value in attributes.items():
                if type(value) not in _PLAIN or type(key) is not str or not key:
                    break
            else:
                return attributes
        return BoundedAttributes(
            limits.max_span_attributes, attributes, immutable=True, max_value_len=limits.max_span_attribute_length
        )

    def event(self, name: str, attributes: types.Attributes, timestamp: int | None) -> Event:
        limits = self.limits
        bounded = BoundedAttributes(limits.max_event_attributes, attributes, max_value_len=limits.max_attribute_length)
        return Event(name, bounded, timestamp if timestamp is not None else time_ns())


class RecordedSpan(trace.Span):
    """A recording span of one request's task; what its methods do is what the SDK's Span does (module doc)."""

    __slots__ = (
        "attributes", "context", "end_time", "events", "kind", "name", "parent", "recorder", "start_time", "status"
    )  # fmt: skip

    def __init__(
        self,
        recorder: SpanRecorder,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        kind: SpanKind,
        attributes: dict[str, Any],
    ) -> None:
        self.recorder = recorder
        self.name = name
        self.context = context
        self.parent = parent
        self.kind = kind
        self.attributes = attributes
        self.events: Sequence[Event] = ()
        self.status = _UNSET
        self.start_time = time_ns()
        self.end_time: int | None = None

    def get_span_context(self) -> SpanContext:
        return self.context

    def is_recording(self) -> bool:
        return self.end_time is None

    def set_attribute(self, key: str, value: types.AttributeValue) -> None:
        if self.end_time is None:
            self.attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, types.AttributeValue]) -> None:
        if self.end_time is None:
            self.attributes.update(attributes)

    def update_name(self, name: str) -> None:
        if self.end_time is None:
            self.name = name

    def add_event(self, name: str, attributes: types.Attributes = None, timestamp: int | None = None) -> None:
        if self.end_time is not None:
            return
        if not isinstance(self.events, BoundedList):
            self.events = BoundedList(self.recorder.limits.max_events)
        self.events.append(self.recorder.event(name, attributes, timestamp))

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        """Not kept: a server span has no links (module doc)."""

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        # The SDK's rules: OK is final, UNSET is never set, a description goes with a StatusCode only.
        if self.end_time is not None or self.status.status_code is StatusCode.OK:
            return
        if isinstance(status, Status):
            if status.status_code is not StatusCode.UNSET:
                self.status = status
        elif status is not StatusCode.UNSET:
            self.status = Status(status, description)

    def record_exception(
        self,
        exception: BaseException,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        module, qualname = type(exception).__module__, type(exception).__qualname__
        fields: dict[str, Any] = {
            "exception.type": f"{module}.{qualname}" if module and module != "builtins" else qualname,
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped),
        }
        fields.update(attributes or {})
        self.add_event("exception", fields, timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self.end_time is None:
            self.end_time = end_time if end_time is not None else time_ns()
            self.recorder.end(self)
