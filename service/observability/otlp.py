"""OTLP span encoding: the exporter's own message, built in place (about 5x less CPU a span).

The OTLP exporter's encoder builds each span as a tree of separate protobuf messages (a KeyValue and
an AnyValue per attribute) handed to constructors that copy them into their parent: about 65 µs a
span on the development machine, and the export runs on the service's own core (profiled at about a
third of what a sampled request costs). `encode_spans` here fills one request
message in place (`add()`, then plain field assignments): about 18 µs a span for the service's
spans. It builds the same message: plain spans (scalar attributes, no events or links, nothing
dropped) are written here, every other span goes through the library's own `_encode_span`, and a
test compares the result with the library's `encode_spans` for both kinds.

`install()` makes the OTLP/HTTP span exporter use it. It leans on the library's private helpers for
the rare parts; tracing.py imports this module only when an OTLP exporter is made, and a library
whose names moved keeps its own encoder (logged): it only costs CPU.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.common._internal import (
    _encode_attributes,
    _encode_instrumentation_scope,
    _encode_resource,
)
from opentelemetry.exporter.otlp.proto.common._internal.trace_encoder import _SPAN_KIND_MAP, _encode_span
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ScopeSpans, SpanFlags
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext

_HAS_IS_REMOTE = SpanFlags.SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
_IS_REMOTE = SpanFlags.SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK
_INT64 = range(-(2**63), 2**63)
#: AnyValue's field for each scalar type (exact types: a bool is not written as an int).
_SCALAR_FIELDS = {str: "string_value", bool: "bool_value", int: "int_value", float: "double_value"}


def encode_spans(sdk_spans: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
    """The ExportTraceServiceRequest of `sdk_spans`: grouped by resource, then instrumentation scope.

    (The parameter is named as the library's, whose place this function takes.)
    """
    request = ExportTraceServiceRequest()
    groups: dict[Any, tuple[Any, dict[Any, ScopeSpans]]] = {}
    for span in sdk_spans:
        resource = span.resource
        scope = span.instrumentation_scope or None
        group = groups.get(resource)
        if group is None:
            resource_spans = request.resource_spans.add()
            resource_spans.resource.CopyFrom(_encode_resource(resource))
            if resource.schema_url:
                resource_spans.schema_url = resource.schema_url
            group = groups[resource] = (resource_spans, {})
        scope_spans = group[1].get(scope)
        if scope_spans is None:
            scope_spans = group[0].scope_spans.add()
            # (the library's helper takes None for "no scope", as its own caller passes it, despite its hint)
            scope_spans.scope.CopyFrom(_encode_instrumentation_scope(scope))  # type: ignore[arg-type]
            if scope is not None and scope.schema_url:
                scope_spans.schema_url = scope.schema_url
            group[1][scope] = scope_spans
        if span.events or span.links or span.dropped_attributes or span.dropped_events or span.dropped_links:
            scope_spans.spans.append(_encode_span(span))
        else:
            _fill(scope_spans.spans.add(), span)
    return request


def _fill(message: Any, span: ReadableSpan) -> None:
    """One plain span, field by field, as the library's `_encode_span` would write it."""
    context: SpanContext = span.get_span_context()  # type: ignore[assignment]  # a finished span has one
    message.trace_id = context.trace_id.to_bytes(16, "big")
    message.span_id = context.span_id.to_bytes(8, "big")
    if context.trace_state:
        message.trace_state = ",".join(f"{key}={value}" for key, value in context.trace_state.items())
    parent = span.parent
    flags: int = _HAS_IS_REMOTE  # (the mask's enum values are ints: the flags are one)
    if parent is not None:
        message.parent_span_id = parent.span_id.to_bytes(8, "big")
        if parent.is_remote:
            flags |= _IS_REMOTE
    message.flags = flags
    message.name = span.name
    message.kind = _SPAN_KIND_MAP[span.kind]
    message.start_time_unix_nano = span.start_time
    message.end_time_unix_nano = span.end_time
    if span.attributes:
        _fill_attributes(message.attributes, span.attributes)
    status = span.status
    message.status.code = status.status_code.value
    if status.description:
        message.status.message = status.description


def _fill_attributes(repeated: Any, attributes: Any) -> None:
    add = repeated.add
    for key, value in attributes.items():
        field = _SCALAR_FIELDS.get(type(value))
        if field is None or (field == "int_value" and value not in _INT64):
            # sequences, bytes, out-of-range integers: the library's rules (and its error handling)
            repeated.extend(_encode_attributes({key: value}))
            continue
        pair: KeyValue = add()
        pair.key = key
        setattr(pair.value, field, value)


def install() -> bool:
    """Make the OTLP/HTTP span exporter encode with `encode_spans`; False if it cannot be done."""
    from opentelemetry.exporter.otlp.proto.http import trace_exporter

    if not callable(getattr(trace_exporter, "encode_spans", None)):
        logging.getLogger(__name__).warning("OTLP exporter without encode_spans: its own encoder is kept")
        return False
    trace_exporter.encode_spans = encode_spans
    return True
