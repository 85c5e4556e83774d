"""The service in-process: a model trained once per session, the app served through httpx's ASGI transport."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.types import ASGIApp

from contract import dataset
from service import train
from service.api import Predictor
from service.app import create_app, load_and_warm
from service.observability import logging as service_logging
from service.settings import ServiceSettings
from tests import otlp_sink


@dataclass(frozen=True)
class Trained:
    result: train.TrainingResult
    model_dir: Path
    version: str


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """The service's model, trained once for the session into a temporary folder (as `python -m service.train`)."""
    out = tmp_path_factory.mktemp("models")
    data = dataset.load()
    result = train.fit(data)
    onnx_bytes = train.export_onnx(result.estimator)
    meta = train.metadata(result, data, onnx_bytes)
    train.write_artifact(out, onnx_bytes, meta)
    return Trained(result, out, meta["version"])


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class LogCapture:
    """The service's JSON lines, from the apps created while it is in place."""

    def __init__(self) -> None:
        self.buffer = io.BytesIO()

    def text(self) -> str:
        service_logging.flush()  # what the loop's turn would write at its end
        return self.buffer.getvalue().decode()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text().splitlines() if line.strip()]

    def requests(self) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("event") == "request"]

    def request(self, request_id: str) -> dict[str, Any]:
        (line,) = [line for line in self.requests() if line["request_id"] == request_id]
        return line


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> LogCapture:
    capture = LogCapture()
    monkeypatch.setattr(service_logging, "OUTPUT", capture.buffer)
    return capture


Serve = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def serve(trained: Trained, log: LogCapture) -> Serve:
    """`async with serve(**settings) as client`: the app started (lifespan) and a client on it."""

    @asynccontextmanager
    async def serving(app: FastAPI | None = None, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
        if app is None:
            app = create_app(ServiceSettings(model_dir=trained.model_dir, **settings))
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://service") as client,
        ):
            yield client

    return serving


@dataclass(frozen=True)
class Traced:
    """The one traced app of the session (the OpenTelemetry tracer provider is process-wide, set once)."""

    app: FastAPI
    memory: InMemorySpanExporter
    sink: Path


@pytest.fixture(scope="session")
def traced(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Traced]:
    """The service with tracing set up as OTEL_* asks: OTLP/HTTP to a sink on a thread, roots sampled at 0%.

    Unparented requests are not sampled (the gate's fast path); a `traceparent` with the sampled flag is.
    Besides the sink, every finished span is kept in memory.
    """
    sink = tmp_path_factory.mktemp("otlp") / "spans.jsonl"
    server = otlp_sink.serve(0, sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{server.server_address[1]}",
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0",
        "OTEL_BSP_SCHEDULE_DELAY": "50",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name in (
            "OTEL_SDK_DISABLED",
            "OTEL_TRACES_EXPORTER",
            "OTEL_SERVICE_NAME",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        ):
            patch.delenv(name, raising=False)
        for name, value in env.items():
            patch.setenv(name, value)
        # The SDK reads OTEL_* when the app sets tracing up; the variables must not outlive that (a
        # session-wide environment would change every later test's TracerProvider).
        settings = ServiceSettings(model_dir=trained.model_dir)
        app = create_app(settings)
    app.state.predictor = Predictor(load_and_warm(settings), app.state.telemetry)
    app.state.ready = True
    memory = InMemorySpanExporter()
    app.state.tracer_provider.add_span_processor(SimpleSpanProcessor(memory))
    try:
        yield Traced(app, memory, sink)
    finally:
        app.state.tracer_provider.shutdown()
        server.shutdown()
        server.server_close()


@asynccontextmanager
async def traced_client(traced: Traced) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the traced app, its stack built anew (so its log line goes where `log` captures it)."""
    service_logging.configure("info")
    traced.app.middleware_stack = None
    traced.memory.clear()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(traced.app), base_url="http://service") as client:
        yield client


def traceparent(trace_id: int = 0x0AF7651916CD43DD8448EB211C80319C, sampled: bool = True) -> dict[str, str]:
    return {"traceparent": f"00-{trace_id:032x}-b7ad6b7169203331-{'01' if sampled else '00'}"}


def serve_in_thread(app: ASGIApp, protocol: type[asyncio.Protocol]) -> Iterator[tuple[str, int]]:
    """uvicorn serving `app` with the HTTP `protocol` class on a free loopback port, in a thread: a raw-bytes
    test's server (yields its address; stops when the generator is closed)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, http=protocol, lifespan="off", log_config=None, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield sock.getsockname()
    server.should_exit = True
    thread.join(5)


def read_until(conn: socket.socket, done: Callable[[bytes], bool]) -> bytes:
    """What the server sends until `done(everything so far)`, it closes, or it resets."""
    answer = b""
    while not done(answer):
        try:
            chunk = conn.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        answer += chunk
    return answer
