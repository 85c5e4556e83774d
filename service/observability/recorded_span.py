"""The server span as plain fields, handed to the span processors as the SDK's own ReadableSpan when it ends.

Why not the SDK's Span for it: that span is built for any caller in any thread. It takes a lock for every change,
cleans the attributes on every set, calls every processor's `on_start`, counts itself in the SDK's span metrics
(a no-op meter here) and, at its end, copies itself into a ReadableSpan. On this service's sampled request that is
most of what sampling costs beyond not sampling (docs/performance.md). The server span is owned by one request's
task and needs none of it. Its attributes stay a plain dict while each is a plain value (a str, bool, int or
float under a string key) within the span limits, which the SDK's cleaning would keep as they are; anything else
turns them into the SDK's own `BoundedAttributes` at once, which cleans, bounds and counts from then on as the
SDK's span does (OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT, OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT), a bad value failing in the
caller. What the processors receive is the SDK's ReadableSpan, exported by the SDK's processors and exporters.
Like any object of one task, it takes no lock: a span changed from another thread while it ends is not supported.

What the SDK's Span does that this one does not: processors' `on_start` is not called (the provider that
`tracing.setup` makes has batch exporters only, for which it does nothing), links are not kept (nothing gives a
server span links), and the SDK's own span metrics do not count it. tests/unit/service/test_recorded_span.py
compares what the processors receive from both for the same calls.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Mapping, Sequence
from time import time_ns
from typing import Any

from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.util import BoundedList
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util import types

_UNSET = Status(StatusCode.UNSET)
#: The attribute values that the SDK's cleaning keeps as they are (without a length limit; exact types: a subclass,
#: such as an IntEnum, goes to the SDK's map).
_PLAIN = frozenset((str, bool, int, float))


def _plain(key: object, value: object) -> bool:
    return type(value) in _PLAIN and type(key) is str and bool(key)


class SpanRecorder:
    """Starts recorded spans for the instrumentation scope named `scope` (as the SDK's `get_tracer(scope)` names
    it), with `provider`'s id generator and resource (read as each span is made and ended: a forked worker's
    provider updates its resource), and hands each ended one to `processor`, the provider's own."""

    def __init__(self, processor: SpanProcessor, provider: TracerProvider, scope: str, limits: SpanLimits) -> None:
        self.processor = processor
        self.provider = provider
        self.scope = InstrumentationScope(scope, "")
        self.limits = limits
        #: How many attributes a plain dict may hold (below, a `BoundedAttributes` takes over): none under a
        #: value length limit, which every string would need checked against.
        count = limits.max_span_attributes  # (None: no count limit)
        self.plain_room = 0 if limits.max_span_attribute_length is not None else sys.maxsize if count is None else count

    def start(self, name: str, parent: SpanContext | None, kind: SpanKind, attributes: dict[str, Any]) -> RecordedSpan:
        """A sampled span, the child of `parent` (a valid span context) or a new trace's root (None); it keeps
        `attributes` (the caller's new dict) as its own."""
        ids = self.provider.id_generator
        if parent is None:
            random = TraceFlags.RANDOM_TRACE_ID if ids.is_trace_id_random() else 0
            trace_id, state = ids.generate_trace_id(), None
        else:
            random = TraceFlags.RANDOM_TRACE_ID if parent.trace_flags.random_trace_id else 0
            trace_id, state = parent.trace_id, parent.trace_state
        context = SpanContext(trace_id, ids.generate_span_id(), False, TraceFlags(TraceFlags.SAMPLED | random), state)
        plain = len(attributes) <= self.plain_room and all(_plain(key, value) for key, value in attributes.items())
        return RecordedSpan(self, name, context, parent, kind, attributes if plain else self.bounded(attributes))

    def end(self, span: RecordedSpan) -> None:
        readable = ReadableSpan(
            span.name,
            span.context,
            span.parent,
            self.provider.resource,
            span.attributes,
            span.events,
            (),
            span.kind,
            status=span.status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=self.scope,
        )
        self.processor.on_end(readable)

    def bounded(self, attributes: Mapping[str, Any]) -> BoundedAttributes:
        """The span's attributes from now on: the SDK's map, cleaning and bounding every value set."""
        limits = self.limits
        return BoundedAttributes(
            limits.max_span_attributes, attributes, immutable=False, max_value_len=limits.max_span_attribute_length
        )

    def event(self, name: str, attributes: types.Attributes, timestamp: int | None) -> Event:
        """An event as the SDK's span makes it: its attributes bounded by the event limits."""
        limits = self.limits
        bounded = BoundedAttributes(
            limits.max_event_attributes, attributes, max_value_len=limits.max_attribute_length, immutable=True
        )
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
        attributes: dict[str, Any] | BoundedAttributes,
    ) -> None:
        self.recorder = recorder
        self.name = name
        self.context = context
        self.parent = parent
        self.kind = kind
        self.attributes: dict[str, Any] | BoundedAttributes = attributes
        self.events: Sequence[Event] = ()
        self.status = _UNSET
        self.start_time = time_ns()
        self.end_time: int | None = None

    def get_span_context(self) -> SpanContext:
        return self.context

    def is_recording(self) -> bool:
        return self.end_time is None

    def set_attribute(self, key: str, value: types.AttributeValue) -> None:
        if self.end_time is not None:
            return
        attributes = self.attributes
        if type(attributes) is dict:
            if _plain(key, value) and (key in attributes or len(attributes) < self.recorder.plain_room):
                attributes.pop(key, None)  # (set again, it is the newest: the first one out under a count limit)
            else:
                attributes = self.attributes = self.recorder.bounded(attributes)
        attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, types.AttributeValue]) -> None:
        for key, value in attributes.items():
            self.set_attribute(key, value)

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
