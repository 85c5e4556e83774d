"""Every private name of another library the service leans on: each test fails when the library changes under it.

Bounds to keep in pyproject.toml: see the report of this change (the names are pinned to what is tested here).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
from fastapi import FastAPI
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as library_encode
from opentelemetry.exporter.otlp.proto.http import trace_exporter
from opentelemetry.sdk.resources import Resource
from prometheus_client import Gauge, Histogram, values
from starlette.routing import Match

from contract import routes
from service import model_metrics
from service.observability import exposition, metrics, otlp, tracing
from service.observability.routes import route_templates
from tests.unit.service.conftest import Traced
from tests.unit.test_otlp import finished_spans

pytestmark = pytest.mark.anyio


class Capture(requests.adapters.BaseAdapter):
    """The exporter's HTTP session, kept in-process: every request body is kept and answered 200."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[bytes] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        assert isinstance(request.body, bytes)
        self.bodies.append(request.body)
        response = requests.Response()
        response.status_code = 200
        response.raw = io.BytesIO(b"")
        return response

    def close(self) -> None:
        pass


def test_the_otlp_exporter_sends_the_in_place_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """`otlp.install` replaces the exporter module's `encode_spans`, and the exporter really calls it."""
    monkeypatch.setattr(trace_exporter, "encode_spans", trace_exporter.encode_spans)  # restored afterwards
    filled: list[str] = []
    fill = otlp._fill

    def spy(message: Any, span: Any) -> None:
        filled.append(span.name)
        fill(message, span)

    monkeypatch.setattr(otlp, "_fill", spy)
    assert otlp.install()
    capture = Capture()
    session = requests.Session()
    session.mount("http://", capture)
    spans = finished_spans()
    exporter = trace_exporter.OTLPSpanExporter(endpoint="http://collector/v1/traces", session=session)
    assert exporter.export(spans).name == "SUCCESS"
    (body,) = capture.bodies
    assert body == library_encode(spans).SerializePartialToString()
    assert filled == ["model.predict", "POST /v1/predict", "plain root"]  # the fast path ran for the plain spans


def test_the_resource_hashes_once_and_alike(traced: Traced, monkeypatch: pytest.MonkeyPatch) -> None:
    resource = traced.app.state.tracer_provider.resource
    assert isinstance(resource, tracing.FixedResource)
    plain = Resource.create({"service.name": "x"})
    calls: list[int] = []
    library_hash = Resource.__hash__

    def spy(self: Resource) -> int:
        calls.append(1)
        return library_hash(self)

    monkeypatch.setattr(Resource, "__hash__", spy)
    fixed = tracing.FixedResource(plain)
    assert {hash(fixed) for _ in range(5)} == {library_hash(plain)} and calls == [1]
    assert fixed == plain


def test_route_templates_match_fastapi_s_own_matching(traced: Traced) -> None:
    app: FastAPI = traced.app
    templates = set(route_templates(app.routes))
    documentation = {app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url}
    assert set(app.openapi()["paths"]) | {routes.METRICS, routes.ADMIN_FAULTS} | documentation == templates
    for template in templates:
        scope = {"type": "http", "method": "GET", "path": template, "root_path": "", "path_params": {}}
        matches = [route.matches(scope)[0] for route in app.router.routes]
        assert Match.FULL in matches or Match.PARTIAL in matches, template


def test_bulk_observation_equals_one_observe_per_value() -> None:
    values_ = [0.0, 0.004, 0.1, 0.1000001, 2.5, 1e9, 7.0]
    bulk = Histogram("bulk", "b", buckets=(0.1, 1.0, 5.0), registry=None)
    single = Histogram("single", "s", buckets=(0.1, 1.0, 5.0), registry=None)
    model_metrics._observe_many(bulk, values_)
    for v in values_:
        single.observe(v)
    samples = [[(s.name.replace("bulk", "x"), s.labels, s.value) for s in m.samples] for m in bulk.collect()]
    expected = [[(s.name.replace("single", "x"), s.labels, s.value) for s in m.samples] for m in single.collect()]
    assert samples == expected


def test_live_gauge_files_are_named_by_pid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`_live_pids` reads prometheus-client's multiprocess file names and removes a dead worker's files."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(tmp_path))
    for pid in (os.getpid(), dead_pid):
        monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue(lambda pid=pid: pid))
        Gauge(f"g{pid}", "g", registry=None, multiprocess_mode="livesum").set(1)
    assert {p.name for p in tmp_path.iterdir()} == {f"gauge_livesum_{os.getpid()}.db", f"gauge_livesum_{dead_pid}.db"}
    assert exposition._live_pids(tmp_path) == {os.getpid()}
    assert [p.name for p in tmp_path.iterdir()] == [f"gauge_livesum_{os.getpid()}.db"]
    families = {f.name for f in exposition.InstanceProcessCollector(tmp_path, os.getppid()).collect()}
    assert {"process_cpu_seconds", "process_resident_memory_bytes", "process_start_time_seconds"} <= families
