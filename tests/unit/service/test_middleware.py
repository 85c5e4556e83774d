"""The request path in-process: the middleware order, the log line and its fields, metrics, faults."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from prometheus_client import REGISTRY
from starlette.routing import Router
from starlette.types import Receive, Scope, Send

from contract import routes
from contract.schemas import EXAMPLE_RECORD
from service import model_metrics
from service.app import create_app
from service.fault_injection import FaultInjectionMiddleware
from service.observability import log_fields
from service.observability import logging as service_logging
from service.observability.middleware import ObservabilityMiddleware
from service.settings import ServiceSettings
from tests.unit.service.conftest import LogCapture, Serve, Trained

pytestmark = pytest.mark.anyio
RECORD = dict(EXAMPLE_RECORD)
DURATION = "http_server_request_duration_seconds_count"
ADMIN = {"Authorization": "Bearer s3cret"}


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def requests_counted(route: str, status: int, method: str = "POST") -> float:
    return sample(DURATION, method=method, route=route, status_code=str(status))


def test_the_middleware_order_is_the_request_order(trained: Trained, log: LogCapture) -> None:
    app = create_app(ServiceSettings(model_dir=trained.model_dir))
    order = [m.cls for m in app.user_middleware]
    assert order[:2] == [ObservabilityMiddleware, FaultInjectionMiddleware]
    stack = app.build_middleware_stack()
    layers = []
    while hasattr(stack, "app"):
        layers.append(type(stack))
        stack = stack.app
    assert [layer for layer in layers if layer in order] == order  # as the list says, outermost first


async def test_log_line_has_the_fields_and_no_inputs(serve: Serve, log: LogCapture) -> None:
    record = {**RECORD, "bmi": 31.337, "age": 58}
    async with serve() as c:
        r = await c.post(routes.PREDICT, json=record, headers={"X-Request-ID": "req-test-1"})
        bad = await c.post(routes.PREDICT, json={**record, "children": 9})
        batch = await c.post(routes.PREDICT_BATCH, json={"records": [record, record]})
        hostile = await c.get(routes.HEALTHZ, headers={"X-Request-ID": "a b\n{}"})
    assert r.headers["x-request-id"] == "req-test-1"
    assert re.fullmatch(r"[0-9a-f]{32}", bad.headers["x-request-id"])
    assert re.fullmatch(r"[0-9a-f]{32}", hostile.headers["x-request-id"])  # not a sane token: replaced
    ok = log.request("req-test-1")
    expected = {"timestamp", "level", "event", "request_id", "trace_id", "span_id", "method", "route"}
    assert expected | {"status_code", "duration_ms", "model_version"} <= set(ok)
    assert "charges" not in ok  # a prediction is personal data: logged only with the inputs
    assert str(ok["timestamp"]).endswith("Z")
    assert (ok["method"], ok["route"], ok["status_code"]) == ("POST", routes.PREDICT, 200)
    line = log.request(bad.headers["x-request-id"])
    assert (line["status_code"], line["invalid_fields"], line["level"]) == (422, ["children"], "warning")
    assert "charges" not in line and "model_version" not in line  # the previous request's fields are gone
    line = log.request(batch.headers["x-request-id"])
    assert line["batch_size"] == 2 and "charges" not in line
    text = log.text()
    assert "31.337" not in text and "northeast" not in text
    assert str(r.json()["charges"]) not in text
    assert log_fields.current() is None  # nothing left bound for whatever runs next in this context


async def test_inputs_are_logged_only_when_asked(serve: Serve, log: LogCapture) -> None:
    async with serve(log_inputs=True) as c:
        single = await c.post(routes.PREDICT, json=RECORD)
        batch = await c.post(routes.PREDICT_BATCH, json={"records": [RECORD]})
    line = log.request(single.headers["x-request-id"])
    assert (line["inputs"], line["charges"]) == (RECORD, single.json()["charges"])
    line = log.request(batch.headers["x-request-id"])
    assert (line["inputs"], line["charges"]) == ([RECORD], [batch.json()["predictions"][0]["charges"]])


async def test_without_instrumentation_nothing_is_recorded(serve: Serve, log: LogCapture) -> None:
    before = requests_counted(routes.PREDICT, 200), sample("model_validation_errors_total", field="age")
    async with serve(instrumentation=False) as c:
        assert (await c.post(routes.PREDICT, json=RECORD)).status_code == 200
        assert (await c.post(routes.PREDICT, json={**RECORD, "age": 3})).status_code == 422
    assert (requests_counted(routes.PREDICT, 200), sample("model_validation_errors_total", field="age")) == before
    assert log.requests() == []


async def test_metrics_count_by_route_template_and_status(serve: Serve, log: LogCapture) -> None:
    model_metrics.SIGNALS.min_count = 1
    model_metrics.SIGNALS.flush()  # what earlier tests' apps left buffered
    before = {s: requests_counted(routes.PREDICT, s) for s in (200, 400, 422)}
    unmatched = requests_counted("unmatched", 404, "GET")
    single, batch = sample("model_inference_duration_seconds_count", kind="single"), sample("model_batch_size_sum")
    invalid = (
        sample("model_validation_errors_total", field="age"),
        sample("model_validation_errors_total", field="body"),
    )
    async with serve(model_signal_min_count=1) as c:
        for _ in range(3):
            assert (await c.post(routes.PREDICT, json=RECORD)).status_code == 200
        for _ in range(2):
            assert (await c.post(routes.PREDICT, json={**RECORD, "age": 12})).status_code == 422
        malformed = await c.post(routes.PREDICT, content=b"{", headers={"content-type": "application/json"})
        assert malformed.status_code == 400
        assert (await c.post(routes.PREDICT_BATCH, json={"records": [RECORD, RECORD]})).status_code == 200
        assert (await c.get("/no/such/path")).status_code == 404
        scraped = (await c.get(routes.METRICS)).text
    assert {s: requests_counted(routes.PREDICT, s) - before[s] for s in before} == {200: 3, 400: 1, 422: 2}
    assert requests_counted("unmatched", 404, "GET") - unmatched == 1
    assert sample("model_inference_duration_seconds_count", kind="single") - single == 3  # flushed by the scrape
    assert sample("model_batch_size_sum") - batch == 2
    assert sample("model_validation_errors_total", field="age") - invalid[0] == 2
    assert sample("model_validation_errors_total", field="body") - invalid[1] == 1
    assert "/no/such/path" not in scraped
    assert "http_server_requests_in_flight 1.0" in scraped  # the scrape itself


async def test_unknown_paths_add_no_series(serve: Serve, log: LogCapture) -> None:
    async with serve() as c:
        await c.get("/unknown/0")
        before = len((await c.get(routes.METRICS)).text.splitlines())
        counted = requests_counted("unmatched", 404, "GET")
        for i in range(1, 200):
            await c.get(f"/unknown/{i}")
        after = len((await c.get(routes.METRICS)).text.splitlines())
    assert after == before
    assert requests_counted("unmatched", 404, "GET") - counted == 199


async def test_an_unexpected_exception_is_a_500_and_one_error_line_with_its_stack(
    trained: Trained, serve: Serve, log: LogCapture
) -> None:
    from tests.raising_app import BOOM, MESSAGE
    from tests.raising_app import create_app as raising_app

    app = raising_app(ServiceSettings(model_dir=trained.model_dir))
    before = requests_counted(BOOM, 500, "GET")
    async with serve(app) as c:  # the transport raises what the app lets escape: nothing must
        r = await c.get(BOOM, headers={"X-Request-ID": "boom-1"})
    assert (r.status_code, r.json(), r.headers["x-request-id"]) == (500, {"detail": "internal server error"}, "boom-1")
    line = log.request("boom-1")
    assert (line["level"], line["status_code"], line["route"]) == ("error", 500, BOOM)
    stack = str(line["exception"])
    assert stack.startswith("Traceback") and stack.rstrip().endswith(f"RuntimeError: {MESSAGE}")
    assert sum(MESSAGE in text for text in log.text().splitlines()) == 1
    assert requests_counted(BOOM, 500, "GET") - before == 1


async def test_an_exception_after_the_response_started_is_raised(
    trained: Trained, serve: Serve, log: LogCapture
) -> None:
    from tests.raising_app import LATE
    from tests.raising_app import create_app as raising_app

    app = raising_app(ServiceSettings(model_dir=trained.model_dir))
    async with serve(app) as c:
        with pytest.raises(RuntimeError):
            await c.get(LATE)
    assert log_fields.current() is None


async def test_admin_endpoint_is_absent_without_a_token(serve: Serve) -> None:
    async with serve() as c:
        assert (await c.get(routes.ADMIN_FAULTS)).status_code == 404
        assert (await c.post(routes.ADMIN_FAULTS, json={"routes": {}}, headers=ADMIN)).status_code == 404


async def test_fault_injection(serve: Serve, log: LogCapture) -> None:
    counts = {k: sample("service_faults_injected_total", route=routes.PREDICT, kind=k) for k in ("error", "latency")}
    errors = requests_counted(routes.PREDICT, 500)
    async with serve(admin_token="s3cret") as c:
        faults = {"routes": {routes.PREDICT: {"error_rate": 1.0}}}
        assert (await c.post(routes.ADMIN_FAULTS, json=faults)).status_code == 401
        wrong = {"Authorization": "Bearer wrong"}
        assert (await c.post(routes.ADMIN_FAULTS, json=faults, headers=wrong)).status_code == 403
        assert (await c.get(routes.ADMIN_FAULTS, headers={"Authorization": "Basic s3cret"})).status_code == 401
        unknown: dict[str, object] = {"routes": {"/nope": {}}}
        assert (await c.post(routes.ADMIN_FAULTS, json=unknown, headers=ADMIN)).status_code == 422
        assert (await c.post(routes.ADMIN_FAULTS, json=faults, headers=ADMIN)).status_code == 200
        assert (await c.get(routes.ADMIN_FAULTS, headers=ADMIN)).json()["routes"][routes.PREDICT]["error_rate"] == 1
        assert [(await c.post(routes.PREDICT, json=RECORD)).status_code for _ in range(5)] == [500] * 5
        assert (await c.post(routes.PREDICT_BATCH, json={"records": [RECORD]})).status_code == 200
        assert (await c.get(routes.HEALTHZ)).status_code == 200

        slow = {"routes": {routes.PREDICT: {"latency_rate": 1.0, "latency_seconds": 0.05}}}
        assert (await c.post(routes.ADMIN_FAULTS, json=slow, headers=ADMIN)).status_code == 200
        start = asyncio.get_running_loop().time()
        assert (await c.post(routes.PREDICT, json=RECORD)).status_code == 200
        assert asyncio.get_running_loop().time() - start >= 0.05

        assert (await c.post(routes.ADMIN_FAULTS, json={"routes": {}}, headers=ADMIN)).json() == {"routes": {}}
        assert (await c.post(routes.PREDICT, json=RECORD)).status_code == 200
    assert sample("service_faults_injected_total", route=routes.PREDICT, kind="error") - counts["error"] == 5
    assert sample("service_faults_injected_total", route=routes.PREDICT, kind="latency") - counts["latency"] == 1
    assert requests_counted(routes.PREDICT, 500) - errors == 5
    faulted = [line for line in log.requests() if "fault" in line]
    assert sorted(str(line["fault"]) for line in faulted) == ["error"] * 5 + ["latency"]
    assert [line["fault_delay_ms"] for line in faulted if line["fault"] == "latency"] == [50.0]
    assert sum(line["event"] == "faults set" for line in log.lines()) == 3


async def test_non_http_scopes_pass_every_layer() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(str(scope["type"]))

    from service.faults import Faults

    inner = FaultInjectionMiddleware(app, faults=Faults())
    chain = ObservabilityMiddleware(inner, router=Router(), instrument=True, tracing_on=False)
    await chain({"type": "websocket", "path": routes.PREDICT}, None, None)  # type: ignore[arg-type]
    assert seen == ["websocket"]


async def test_a_bound_field_never_displaces_the_line_s_own_and_never_outlives_its_request(
    trained: Trained, log: LogCapture
) -> None:
    """An inner layer binding `route` or `status_code` cannot break the line; nothing bound stays bound."""

    async def binds(scope: Scope, receive: Receive, send: Send) -> None:
        log_fields.bind(route="/spoofed", status_code=999, event="x", extra="kept")
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    service_logging.configure("info")  # the line goes where `log` captures it
    app = ObservabilityMiddleware(binds, router=Router(), instrument=True, tracing_on=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as client:
        assert (await client.get("/x")).status_code == 204
    (line,) = log.requests()
    assert line["route"] == "unmatched" and line["status_code"] == 204 and line["event"] == "request"
    assert line["extra"] == "kept"
    assert log_fields.current() is None
