"""`instrument(app)` on an app that is not ours: route labels from its router, its log lines, its admission.

The app here is a plain FastAPI app (no model of ours), served in-process through httpx's ASGI transport, which
is plain ASGI like plain uvicorn: no protocol stamps its requests, so the app's own turn-stamped Gate admits them
(service/turn_admission.py); and once with our protocol in front (service/serving.py), which gates it itself.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from prometheus_client import REGISTRY

from service.admission import Routes
from service.instrument import InstrumentSettings, app_routes, instrument
from service.observability import tracing
from service.protocol import ServiceProtocol
from service.serving import instrumentation, protocol_class, uvicorn_options
from tests.unit.service.conftest import LogCapture, read_until, serve_in_thread

pytestmark = pytest.mark.anyio


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def user_app(prefix: str, busy_seconds: float = 0.0, **settings: Any) -> FastAPI:
    """Someone's model service: a prediction, a route with a parameter, an included router, a probe."""
    app = FastAPI(title="someone-elses-model")

    @app.post(f"/{prefix}/predict")
    async def predict(features: list[float]) -> dict[str, float]:
        if busy_seconds:
            time.sleep(busy_seconds)  # a model that holds the event loop, as a CPU-bound prediction does
        return {"prediction": sum(features)}

    @app.get(f"/{prefix}/items/{{item_id}}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item": item_id}

    @app.get(f"/{prefix}/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    router = APIRouter()

    @router.post("/score")
    async def score(features: list[float]) -> dict[str, float]:
        return {"score": max(features)}

    app.include_router(router, prefix=f"/{prefix}/v2")
    instrument(app, InstrumentSettings(**settings))
    return app


@asynccontextmanager
async def client_of(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://app") as client,
    ):
        yield client


def test_admission_knows_the_apps_routes_from_its_router(log: LogCapture) -> None:
    routes = app_routes(user_app("r"))
    assert routes.sheddable == {"/r/predict", "/r/v2/score"}  # POST routes without parameters; not /metrics
    assert {"/r/predict", "/r/v2/score", "/r/healthz", "/metrics"} <= routes.known
    assert "/r/items/{item_id}" not in routes.known and routes.of("/r/items/7") == "unmatched"


async def test_requests_are_counted_by_the_apps_templates_and_logged(log: LogCapture) -> None:
    app = user_app("m")
    duration = "http_server_request_duration_seconds_count"
    assert sample("service_ready") == 0
    async with client_of(app) as c:
        assert sample("service_ready") == 1  # the app's start-up has finished
        assert (await c.post("/m/predict", json=[1, 2])).json() == {"prediction": 3}
        assert (await c.get("/m/items/42")).status_code == 200
        assert (await c.post("/m/v2/score", json=[1, 5])).status_code == 200
        assert (await c.get("/m/no/such/path/7")).status_code == 404
        scraped = (await c.get("/metrics")).text
    assert sample("service_ready") == 0
    assert sample(duration, method="POST", route="/m/predict", status_code="200") == 1
    assert sample(duration, method="GET", route="/m/items/{item_id}", status_code="200") == 1
    assert sample(duration, method="POST", route="/m/v2/score", status_code="200") == 1
    assert 'route="/m/items/{item_id}"' in scraped and "/no/such/path" not in scraped
    assert 'http_server_shed_requests_total{route="/m/predict"} 0.0' in scraped  # the predictions' series exist
    lines = [(line["method"], line["route"], line["status_code"]) for line in log.requests()]
    assert lines[:4] == [
        ("POST", "/m/predict", 200),
        ("GET", "/m/items/{item_id}", 200),
        ("POST", "/m/v2/score", 200),
        ("GET", "unmatched", 404),
    ]


async def test_under_plain_asgi_requests_queued_behind_a_slow_one_are_shed(log: LogCapture) -> None:
    """Four requests whose tasks start in one turn of the loop, each prediction holding it 30 ms, a bound of 5 ms:
    the first is served, the three behind it have waited at least 30 ms since the turn's first start: shed."""
    app = user_app("s", busy_seconds=0.03, max_queue_delay_ms=5, retry_after_seconds=3)
    shed_before = sample("http_server_shed_requests_total", route="/s/predict")
    waits_before = sample("http_server_queue_delay_seconds_count", route="/s/predict")
    async with client_of(app) as c:
        answers = await asyncio.gather(*(c.post("/s/predict", json=[1.0]) for _ in range(4)))
        later = await c.post("/s/predict", json=[1.0])  # a turn of its own: no wait, served
    assert [a.status_code for a in answers] == [200, 503, 503, 503]
    assert answers[1].headers["retry-after"] == "3" and "overloaded" in answers[1].json()["detail"]
    assert later.status_code == 200
    assert sample("http_server_shed_requests_total", route="/s/predict") - shed_before == 3
    assert sample("http_server_queue_delay_seconds_count", route="/s/predict") - waits_before == 5
    assert sample("http_server_request_duration_seconds_count", method="POST", route="/s/predict", status_code="503")


async def test_requests_one_after_the_other_are_never_shed(log: LogCapture) -> None:
    """One task's requests, each holding the loop 30 ms, the bound 5 ms: none waited behind another, though the
    in-process client lets the loop turn seldom or never between them."""
    app = user_app("t", busy_seconds=0.03, max_queue_delay_ms=5)
    async with client_of(app) as c:
        statuses = [(await c.post("/t/predict", json=[1.0])).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 200]


async def test_probes_and_unknown_paths_are_never_shed(log: LogCapture) -> None:
    app = user_app("p", busy_seconds=0.03, max_queue_delay_ms=5)
    async with client_of(app) as c:
        first, *probes = await asyncio.gather(
            c.post("/p/predict", json=[1.0]), *(c.get("/p/healthz") for _ in range(3))
        )
    assert first.status_code == 200 and [p.status_code for p in probes] == [200, 200, 200]


def test_an_app_is_instrumented_once(log: LogCapture) -> None:
    app = user_app("o")
    with pytest.raises(RuntimeError, match="instrumented already"):
        instrument(app)


def test_serving_needs_an_instrumented_app() -> None:
    with pytest.raises(RuntimeError, match=r"call instrument\(app\) first"):
        instrumentation(FastAPI())


def test_uvicorn_options_run_the_app_with_our_protocol_and_its_settings(log: LogCapture) -> None:
    app = user_app("u", host="127.0.0.2", port=8123, log_level="warning", max_queue_delay_ms=7)
    options = uvicorn_options(app)
    assert (options["host"], options["port"], options["log_level"], options["access_log"]) == (
        "127.0.0.2",
        8123,
        "warning",
        False,
    )
    protocol = options["http"]
    assert issubclass(protocol, ServiceProtocol) and protocol is not ServiceProtocol
    assert protocol.guards.routes == app_routes(app) and protocol.guards.admission.limit == pytest.approx(0.007)


@pytest.fixture
def protocol_server(log: LogCapture) -> Iterator[tuple[FastAPI, tuple[str, int]]]:
    app = user_app("q", max_url_bytes=256)
    for address in serve_in_thread(app, protocol_class(app)):  # (stops when the generator ends)
        yield app, address


def http(address: tuple[str, int], request: bytes) -> bytes:
    with socket.create_connection(address, timeout=5) as conn:
        conn.sendall(request)
        return read_until(conn, lambda answer: b"\r\n\r\n" in answer and answer.rstrip().endswith(b"}"))


def test_under_our_protocol_the_app_is_gated_once_with_its_own_routes(
    protocol_server: tuple[FastAPI, tuple[str, int]],
) -> None:
    _, address = protocol_server
    waits_before = sample("http_server_queue_delay_seconds_count", route="/q/predict")
    body = b"[1, 2]"
    answer = http(
        address,
        b"POST /q/predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
        b"connection: close\r\n\r\n%s" % (len(body), body),
    )
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b'{"prediction":3.0}')
    # The protocol's Gate measured its wait, under the app's route: the app's own layer let it pass, unmeasured.
    assert sample("http_server_queue_delay_seconds_count", route="/q/predict") - waits_before == 1
    long = http(address, b"GET /q/healthz?" + b"a" * 300 + b" HTTP/1.1\r\nhost: x\r\n\r\n")
    assert long.startswith(b"HTTP/1.1 414")  # the app's settings reach the protocol (SERVICE_MAX_URL_BYTES)


def test_the_tracing_settings_stand_for_the_otel_variables() -> None:
    assert tracing.overrides(None, None) == {}
    assert tracing.overrides(0.1, "http://127.0.0.1:4318/") == {
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.1",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces",
    }


def test_routes_given_win_over_the_router(log: LogCapture) -> None:
    app = FastAPI()
    given = Routes(frozenset({"/only"}), frozenset({"/only"}))
    assert instrument(app, InstrumentSettings(), routes=given).routes() is given


def test_fastapis_own_telemetry_is_turned_off(log: LogCapture) -> None:
    """A private name of FastAPI's (0.16x): its native OpenTelemetry support, which would trace every request."""
    app = FastAPI()
    assert app._telemetry["tracing"] is True  # FastAPI's default
    instrument(app)
    assert not any(app._telemetry[key] for key in ("tracing", "metrics", "logs", "operation_spans"))
    assert not app._native_telemetry.enabled()
