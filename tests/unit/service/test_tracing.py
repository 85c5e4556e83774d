"""Traces in-process: the sampled request's spans, ids in the log line and the exemplar; the OTEL_* parsing."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

from contract import routes
from contract.schemas import EXAMPLE_RECORD
from service.observability import tracing
from service.observability.server_span import Sampling, ServerSpans
from tests.unit.service.conftest import LogCapture, Traced, traced_client, traceparent

pytestmark = pytest.mark.anyio
OPENMETRICS = "application/openmetrics-text; version=1.0.0"


async def test_a_sampled_request_has_its_spans_log_ids_and_exemplar(traced: Traced, log: LogCapture) -> None:
    async with traced_client(traced) as c:
        r = await c.post(routes.PREDICT, json=EXAMPLE_RECORD, headers={**traceparent(), "X-Request-ID": "t-1"})
        scraped = await c.get(routes.METRICS, headers={"Accept": OPENMETRICS})
    assert r.status_code == 200
    line = log.request("t-1")
    assert line["trace_id"] == f"{0x0AF7651916CD43DD8448EB211C80319C:032x}"
    spans = {s.name: s for s in traced.memory.get_finished_spans()}
    server, child = spans[f"POST {routes.PREDICT}"], spans["model.predict"]
    assert f"{server.context.span_id:016x}" == line["span_id"]
    assert child.parent is not None and child.parent.span_id == server.context.span_id
    assert dict(child.attributes or {}) == {"model.version": line["model_version"], "model.batch_size": 1}
    attributes = dict(server.attributes or {})
    assert (attributes["http.route"], attributes["http.request.method"]) == (routes.PREDICT, "POST")
    assert attributes["http.response.status_code"] == 200 and "http.method" not in attributes
    assert server.resource.attributes["service.name"] == tracing.SERVICE_NAME
    bucket = r'^http_server_request_duration_seconds_bucket\{[^}]*route="/v1/predict"[^}]*\} \S+'
    exemplars = re.findall(bucket + r' # \{trace_id="([0-9a-f]{32})"\}', scraped.text, flags=re.MULTILINE)
    assert line["trace_id"] in exemplars


async def test_spans_reach_the_otlp_endpoint(traced: Traced, log: LogCapture) -> None:
    trace_id = 0x1234
    async with traced_client(traced) as c:
        await c.post(routes.PREDICT, json=EXAMPLE_RECORD, headers=traceparent(trace_id))
    deadline = time.monotonic() + 10
    names: set[str] = set()
    while time.monotonic() < deadline and len(names) < 2:
        if traced.sink.exists():
            lines = [json.loads(x) for x in traced.sink.read_text().splitlines()]
            names = {s["name"] for s in lines if s["trace_id"] == f"{trace_id:032x}"}
        time.sleep(0.05)
    assert names == {f"POST {routes.PREDICT}", "model.predict"}


async def test_unsampled_requests_and_probes_carry_no_trace(traced: Traced, log: LogCapture) -> None:
    async with traced_client(traced) as c:
        await c.post(routes.PREDICT, json=EXAMPLE_RECORD, headers={"X-Request-ID": "t-root"})
        await c.post(routes.PREDICT, json=EXAMPLE_RECORD, headers={**traceparent(sampled=False), "X-Request-ID": "t-0"})
        await c.get(routes.HEALTHZ, headers={**traceparent(), "X-Request-ID": "t-probe"})
    assert traced.memory.get_finished_spans() == ()
    for request_id in ("t-root", "t-probe"):
        assert log.request(request_id)["trace_id"] is None
    assert log.request("t-0")["trace_id"] == f"{0x0AF7651916CD43DD8448EB211C80319C:032x}"  # the parent's


async def test_an_exception_is_recorded_on_the_server_span(traced: Traced, log: LogCapture) -> None:
    from tests.raising_app import BOOM, MESSAGE

    @traced.app.get(BOOM)
    async def boom() -> None:
        raise RuntimeError(MESSAGE)

    try:
        async with traced_client(traced) as c:
            r = await c.get(BOOM, headers=traceparent())
    finally:
        traced.app.router.routes.pop()
    assert r.status_code == 500
    (server,) = traced.memory.get_finished_spans()
    assert [e.name for e in server.events] == ["exception"]  # once, by the request middleware
    assert server.status.status_code is StatusCode.ERROR and (server.attributes or {})["error.type"] == "500"


async def test_an_unsampled_request_goes_straight_to_the_app_and_still_answers_500(
    traced: Traced, log: LogCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.raising_app import BOOM, MESSAGE

    @traced.app.get(BOOM)
    async def boom() -> None:
        raise RuntimeError(MESSAGE)

    entered: list[str] = []
    traced_path = ServerSpans._traced

    def spy(self: ServerSpans, scope: Any, receive: Any, send: Any, carried: bool) -> Any:
        entered.append(scope["path"])
        return traced_path(self, scope, receive, send, carried)

    monkeypatch.setattr(ServerSpans, "_traced", spy)
    try:
        async with traced_client(traced) as c:
            r = await c.get(BOOM, headers={"X-Request-ID": "t-boom"})
            await c.post(routes.PREDICT, json=EXAMPLE_RECORD, headers=traceparent())
    finally:
        traced.app.router.routes.pop()
    assert r.status_code == 500
    assert log.request("t-boom")["status_code"] == 500
    assert isinstance(traced.app.middleware_stack, ServerSpans)
    assert entered == [routes.PREDICT]
    assert [s.name for s in traced.memory.get_finished_spans()] == ["model.predict", f"POST {routes.PREDICT}"]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://x"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_SDK_DISABLED": "true"}, []),
        ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
        ({"OTEL_TRACES_EXPORTER": "otlp,console"}, ["otlp", "console"]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}, []),
        ({"OTEL_TRACES_EXPORTER": "zipkin", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}, []),
    ],
)
def test_exporters_follow_the_otel_variables(env: dict[str, str], expected: list[str]) -> None:
    assert tracing.exporters(env) == expected


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, Sampling(1.0, True)),
        ({"OTEL_TRACES_SAMPLER": "always_off"}, Sampling(0.0, False)),
        ({"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"}, Sampling(0.25, True)),
        ({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "7"}, Sampling(1.0, False)),
        ({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "half"}, Sampling(1.0, False)),
        ({"OTEL_TRACES_SAMPLER": "jaeger_remote"}, None),
    ],
)
def test_head_sampling_follows_the_otel_variables(env: dict[str, str], expected: Sampling | None) -> None:
    assert tracing.head_sampling(env) == expected


def test_no_exporter_no_tracing(monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi import FastAPI

    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER"):
        monkeypatch.delenv(name, raising=False)
    assert tracing.setup(FastAPI()) is None


def test_the_console_exporter_writes_to_stderr() -> None:
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    assert isinstance(tracing._exporter("console"), ConsoleSpanExporter)


async def test_spans_carry_neither_the_query_string_nor_the_client_address(traced: Traced, log: LogCapture) -> None:
    async with traced_client(traced) as c:
        r = await c.post(f"{routes.PREDICT}?patient=alice-smith", json=EXAMPLE_RECORD, headers=traceparent())
    assert r.status_code == 200
    (server,) = [s for s in traced.memory.get_finished_spans() if s.name == f"POST {routes.PREDICT}"]
    attributes = dict(server.attributes or {})
    assert attributes["url.path"] == routes.PREDICT
    assert not {"url.query", "client.address", "client.port", "http.target", "http.url"} & set(attributes)
    assert "alice" not in json.dumps({k: str(v) for k, v in attributes.items()})
