"""What crosses processes: several workers' metrics and faults, spans exported over OTLP, uvicorn's own log lines.

Everything that one process shows is tested in-process (tests/unit/service/).
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from contract.schemas import EXAMPLE_RECORD
from service.faults import Faults
from service.settings import ServiceSettings
from tests import processes

RECORD = dict(EXAMPLE_RECORD)
PREDICT = "/v1/predict"
OPENMETRICS = "application/openmetrics-text; version=1.0.0"


def scrape(base: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Samples by name: [(labels, value), ...], from the text format."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(httpx.get(f"{base}/metrics").text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def value(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    matches = [v for ls, v in samples.get(name, []) if all(ls.get(k) == w for k, w in labels.items())]
    assert len(matches) == 1, f"{name}{labels}: {len(matches)} samples"
    return matches[0]


def request_lines(log: Path) -> list[dict[str, object]]:
    """Every line of the log must be JSON; the request lines among them."""
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return [line for line in lines if line.get("event") == "request"]


def logged(log: Path, *request_ids: str, timeout: float = 5.0) -> dict[str, dict[str, object]]:
    """The request lines of these ids, once all are written (the line follows the response)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = {str(line["request_id"]): line for line in request_lines(log)}
        if all(i in lines for i in request_ids) or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


ADMIN = {"Authorization": "Bearer s3cret"}


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A two-worker service (multiprocess metrics, shared faults); a stale file of a previous run in its folder."""
    tmp = tmp_path_factory.mktemp("workers")
    metrics_dir = tmp / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"stale from a previous run")
    with processes.service(tmp, workers="2", metrics_dir=str(metrics_dir), admin_token="s3cret") as base:
        yield base, metrics_dir


def live_workers(metrics_dir: Path) -> set[int]:
    return {int(p.stem.rsplit("_", 1)[1]) for p in metrics_dir.glob("gauge_livesum_*.db")}


def predictions(base: str, status: str = "200") -> float:
    return value(scrape(base), "http_server_request_duration_seconds_count", route=PREDICT, status_code=status)


def test_faults_reach_every_worker(two_workers: tuple[str, Path]) -> None:
    """A drill's POST lands on one worker; the faults must hold in all of them."""
    base, _ = two_workers
    injected = value(scrape(base), "service_faults_injected_total", route=PREDICT, kind="error")
    faults = {"routes": {PREDICT: {"error_rate": 1.0}}}
    assert httpx.post(f"{base}/admin/faults", json=faults, headers=ADMIN).status_code == 200
    time.sleep(Faults.CHECK_EVERY * 2)  # each worker looks at the shared faults at most that often
    # A new connection per request: the kernel spreads them over both workers.
    assert {httpx.post(f"{base}{PREDICT}", json=RECORD).status_code for _ in range(40)} == {500}
    assert httpx.post(f"{base}/admin/faults", json={"routes": {}}, headers=ADMIN).status_code == 200
    time.sleep(Faults.CHECK_EVERY * 2)
    assert {httpx.post(f"{base}{PREDICT}", json=RECORD).status_code for _ in range(40)} == {200}
    after = value(scrape(base), "service_faults_injected_total", route=PREDICT, kind="error")
    assert after - injected == 40


def test_two_workers_report_exactly_n(two_workers: tuple[str, Path]) -> None:
    base, metrics_dir = two_workers
    assert not (metrics_dir / "counter_999999.db").exists()
    before, n = predictions(base), 120
    fresh_connection = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=base, limits=fresh_connection) as c:
        assert all(c.post(PREDICT, json=RECORD).status_code == 200 for _ in range(n))
    workers = live_workers(metrics_dir)
    assert len(workers) == 2
    for _ in range(3):  # whichever worker answers the scrape, the sum is the same
        m = scrape(base)
        assert value(m, "http_server_request_duration_seconds_count", route=PREDICT, status_code="200") - before == n
        assert value(m, "model_info") == 1
        assert value(m, "process_resident_memory_bytes") > 0
        assert "process_cpu_seconds_total" in m
    # Model signals leave each worker in groups of at least MIN records (privacy): up to MIN - 1 of a worker's
    # stay buffered until more come, so the sum reaches at least n less those, after the flush timer.
    held = len(workers) * (ServiceSettings().model_signal_min_count - 1)
    deadline = time.monotonic() + 10  # the signal buffers' flush timer (every FLUSH_SECONDS in each worker)
    while time.monotonic() < deadline and value(scrape(base), "model_input_age_years_count") < before + n - held:
        time.sleep(0.2)
    assert value(scrape(base), "model_input_age_years_count") >= before + n - held

    victim = min(workers)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(live_workers(metrics_dir) - {victim}) < 2:
        time.sleep(0.2)
    while time.monotonic() < deadline and value(scrape(base), "service_ready") != 1:
        time.sleep(0.2)  # the replacement worker loads the model: not ready (0) until then
    assert not list(metrics_dir.glob(f"gauge_live*_{victim}.db"))
    assert predictions(base) - before == n
    assert value(scrape(base), "service_ready") == 1


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    """A service exporting every trace over OTLP/HTTP to a local sink; (base URL, log, spans file).

    The OTEL_* variables go to the service process only, not to this one.
    """
    tmp = tmp_path_factory.mktemp("traced")
    spans = tmp / "spans.jsonl"
    port = processes.free_port()
    sink = ["-m", "tests.otlp_sink", "--port", str(port), "--out", str(spans)]
    service_port = processes.free_port()
    base = f"http://127.0.0.1:{service_port}"
    env = {
        "SERVICE_HOST": "127.0.0.1",
        "SERVICE_PORT": str(service_port),
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "OTEL_TRACES_SAMPLER": "parentbased_always_on",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    log = tmp / "service.log"
    with processes.running(sink, ready_url=f"http://127.0.0.1:{port}/"), processes.service_process(env, base, log):
        yield base, log, spans


def wait_for_spans(spans: Path, trace_id: str) -> list[dict[str, object]]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if spans.exists():
            found = [s for s in map(json.loads, spans.read_text().splitlines()) if s["trace_id"] == trace_id]
            if len(found) >= 2:
                return found
        time.sleep(0.1)
    raise AssertionError(f"no spans of trace {trace_id}")


def test_exported_spans_are_the_log_line_s_and_the_exemplar_s(traced: tuple[str, Path, Path]) -> None:
    base, log, spans = traced
    assert httpx.post(f"{base}{PREDICT}", json=RECORD, headers={"X-Request-ID": "traced-1"}).status_code == 200
    line = logged(log, "traced-1")["traced-1"]
    trace_id = str(line["trace_id"])
    assert re.fullmatch(r"[0-9a-f]{32}", trace_id)
    found = wait_for_spans(spans, trace_id)
    server: list[dict[str, Any]] = [s for s in found if s["span_id"] == line["span_id"]]
    assert len(server) == 1 and server[0]["name"] == f"POST {PREDICT}"
    assert server[0]["attributes"]["http.route"] == PREDICT
    assert "http.method" not in server[0]["attributes"]  # the stable semantic conventions
    (child,) = [s for s in found if s["name"] == "model.predict"]
    assert child["parent_span_id"] == line["span_id"]
    assert child["attributes"] == {"model.version": line["model_version"], "model.batch_size": 1}
    assert server[0]["service_name"] == "insurance-charges"

    scraped = httpx.get(f"{base}/metrics", headers={"Accept": OPENMETRICS})
    bucket = r'^http_server_request_duration_seconds_bucket\{[^}]*route="/v1/predict"[^}]*\} \S+'
    exemplars = re.findall(bucket + r' # \{trace_id="([0-9a-f]{32})"\}', scraped.text, flags=re.MULTILINE)
    assert trace_id in exemplars


def test_every_line_of_the_process_is_json_uvicorn_s_too(traced: tuple[str, Path, Path]) -> None:
    base, log, _ = traced
    httpx.get(f"{base}/healthz", headers={"X-Request-ID": "probe-1"})
    line = logged(log, "probe-1")["probe-1"]
    assert line["trace_id"] is None and line["route"] == "/healthz"  # probes are not traced
    lines = [json.loads(text) for text in log.read_text().splitlines() if text.strip()]
    assert any(parsed.get("logger") == "uvicorn.error" for parsed in lines)
