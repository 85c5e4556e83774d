"""Metrics, logs and traces of the real service over real HTTP (issue 3)."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from contract import buckets
from contract.schemas import EXAMPLE_RECORD
from service.observability import tracing
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


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A service of its own (counts start at zero) and its log file."""
    tmp = tmp_path_factory.mktemp("fresh")
    with processes.service(tmp) as base:
        yield base, tmp / "service.log"


def test_metrics_names_labels_buckets_and_counts(fresh: tuple[str, Path]) -> None:
    base, _ = fresh
    with httpx.Client(base_url=base) as c:
        for _ in range(3):
            assert c.post(PREDICT, json=RECORD).status_code == 200
        for _ in range(2):
            assert c.post(PREDICT, json={**RECORD, "age": 12}).status_code == 422
        assert c.post(PREDICT, content=b"{", headers={"content-type": "application/json"}).status_code == 400
        assert c.post(f"{PREDICT}/batch", json={"records": [RECORD, {**RECORD, "smoker": True}]}).status_code == 200
        assert c.get("/no/such/path").status_code == 404
    m = scrape(base)

    duration = "http_server_request_duration_seconds"
    labels = {ls["le"] for ls, _ in m[f"{duration}_bucket"] if ls["route"] == PREDICT and ls["status_code"] == "200"}
    assert sorted(float(le) for le in labels) == [*buckets.LATENCY_SECONDS, float("inf")]
    assert {0.1, 0.5} <= {float(le) for le in labels}
    assert value(m, f"{duration}_count", method="POST", route=PREDICT, status_code="200") == 3
    assert value(m, f"{duration}_count", method="POST", route=PREDICT, status_code="422") == 2
    assert value(m, f"{duration}_count", method="POST", route=PREDICT, status_code="400") == 1
    assert value(m, f"{duration}_count", method="POST", route=f"{PREDICT}/batch", status_code="200") == 1
    assert value(m, f"{duration}_count", method="GET", route="unmatched", status_code="404") == 1
    assert all(ls["route"] != "/no/such/path" for ls, _ in m[f"{duration}_count"])

    assert value(m, "model_inference_duration_seconds_count", kind="single") == 3
    assert value(m, "model_inference_duration_seconds_count", kind="batch") == 1
    assert value(m, "model_batch_size_sum") == 2
    assert value(m, "model_predicted_charges_dollars_count") == 5
    for name in ("model_input_age_years", "model_input_bmi", "model_input_children"):
        assert value(m, f"{name}_count") == 5
    assert value(m, "model_input_age_years_bucket", le="45.0") == 5  # age 42
    assert value(m, "model_input_age_years_bucket", le="40.0") == 0
    assert value(m, "model_input_category_total", feature="smoker", value="true") == 1
    assert value(m, "model_input_category_total", feature="smoker", value="false") == 4
    assert value(m, "model_input_category_total", feature="region", value="northeast") == 5
    assert value(m, "model_validation_errors_total", field="age") == 2
    assert value(m, "model_validation_errors_total", field="body") == 1
    (info,) = m["model_info"]
    assert info[1] == 1 and info[0]["name"] == "insurance_charges_model" and info[0]["version"].startswith("gbr-")
    assert value(m, "service_ready") == 1
    assert value(m, "http_server_requests_in_flight") == 1  # the scrape itself
    assert value(m, "http_server_shed_requests_total", route=PREDICT) == 0
    assert value(m, "service_faults_injected_total", route=PREDICT, kind="error") == 0
    assert value(m, "process_resident_memory_bytes") > 0
    assert "process_cpu_seconds_total" in m


def test_log_lines_are_json_with_the_fields_and_no_inputs(fresh: tuple[str, Path]) -> None:
    base, log = fresh
    record = {**RECORD, "bmi": 31.337, "age": 58}
    r = httpx.post(f"{base}{PREDICT}", json=record, headers={"X-Request-ID": "req-test-1"})
    assert r.headers["x-request-id"] == "req-test-1"
    generated = httpx.post(f"{base}{PREDICT}", json={**record, "children": 9}).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    lines = logged(log, "req-test-1", generated)
    ok, bad = lines["req-test-1"], lines[generated]
    expected = {"timestamp", "level", "event", "request_id", "trace_id", "span_id", "method", "route"}
    assert expected | {"status_code", "duration_ms", "model_version", "charges"} <= set(ok)
    assert str(ok["timestamp"]).endswith("Z")
    assert (ok["method"], ok["route"], ok["status_code"], ok["charges"]) == ("POST", PREDICT, 200, r.json()["charges"])
    assert (bad["status_code"], bad["invalid_fields"], bad["level"]) == (422, ["children"], "warning")
    text = log.read_text()
    assert "31.337" not in text and "northeast" not in text
    assert all(json.loads(line) for line in text.splitlines() if line.strip())  # uvicorn's lines too
    assert any(json.loads(line).get("logger") == "uvicorn.error" for line in text.splitlines() if line.strip())


def test_span_details_are_remembered_only_for_static_routes_and_the_resource_hashes_alike() -> None:
    from opentelemetry.sdk.resources import Resource

    calls: list[str] = []

    def details(scope: dict[str, object]) -> tuple[str, dict[str, str]]:
        calls.append(str(scope["path"]))
        return f"{scope['method']} {scope['path']}", {"http.route": str(scope["path"])}

    memo = tracing.memoized_span_details(details, {PREDICT})  # type: ignore[arg-type]
    for path in (PREDICT, PREDICT, "/nowhere", "/nowhere"):
        name, attributes = memo({"method": "POST", "path": path})
        assert (name, attributes) == (f"POST {path}", {"http.route": path})
        attributes["mutated"] = "yes"  # the caller's copy: the remembered answer stays intact
    assert memo({"method": "BREW", "path": PREDICT})[0] == f"BREW {PREDICT}"  # unknown methods: not kept
    assert calls == [PREDICT, "/nowhere", "/nowhere", PREDICT]
    resource = Resource.create({"service.name": "x"})
    assert hash(tracing.FixedResource(resource)) == hash(resource)
    assert tracing.FixedResource(resource) == resource


def test_an_unexpected_exception_is_a_500_and_one_error_line_with_its_stack(tmp_path: Path) -> None:
    from tests.raising_app import BOOM, MESSAGE

    port = processes.free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "service.log"
    with processes.running(["-m", "tests.raising_app", str(port)], ready_url=f"{base}/readyz", log=log):
        r = httpx.get(f"{base}{BOOM}", headers={"X-Request-ID": "boom-1"})
        line = logged(log, "boom-1")["boom-1"]
        m = scrape(base)
    assert (r.status_code, r.json(), r.headers["x-request-id"]) == (500, {"detail": "internal server error"}, "boom-1")
    assert (line["level"], line["status_code"], line["route"]) == ("error", 500, BOOM)
    stack = str(line["exception"])
    assert stack.startswith("Traceback") and stack.rstrip().endswith(f"RuntimeError: {MESSAGE}")
    assert sum(MESSAGE in text for text in log.read_text().splitlines()) == 1  # logged once, not by uvicorn too
    assert value(m, "http_server_request_duration_seconds_count", route=BOOM, status_code="500") == 1


def test_unknown_paths_add_no_series(fresh: tuple[str, Path]) -> None:
    base, _ = fresh
    with httpx.Client(base_url=base) as c:
        c.get("/unknown/0")
        before = len(c.get("/metrics").text.splitlines())
        unmatched_before = value(scrape(base), "http_server_request_duration_seconds_count", route="unmatched")
        for i in range(1, 10_000):
            c.get(f"/unknown/{i}")
        after = len(c.get("/metrics").text.splitlines())
    assert after == before
    unmatched = value(scrape(base), "http_server_request_duration_seconds_count", route="unmatched")
    assert unmatched - unmatched_before == 9_999


def test_two_workers_report_exactly_n(tmp_path: Path) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"stale from a previous run")
    n = 120
    with processes.service(tmp_path, workers="2", metrics_dir=str(metrics_dir)) as base:
        assert not (metrics_dir / "counter_999999.db").exists()
        fresh_connection = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=base, limits=fresh_connection) as c:
            assert all(c.post(PREDICT, json=RECORD).status_code == 200 for _ in range(n))
        workers = {int(p.stem.rsplit("_", 1)[1]) for p in metrics_dir.glob("gauge_livesum_*.db")}
        assert len(workers) == 2
        for _ in range(3):  # whichever worker answers the scrape, the sum is the same
            m = scrape(base)
            assert value(m, "http_server_request_duration_seconds_count", route=PREDICT, status_code="200") == n
            assert value(m, "model_info") == 1
            assert value(m, "process_resident_memory_bytes") > 0
            assert "process_cpu_seconds_total" in m
        time.sleep(1.5)  # the signal buffers' flush timer
        assert value(scrape(base), "model_input_age_years_count") == n

        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            live = {int(p.stem.rsplit("_", 1)[1]) for p in metrics_dir.glob("gauge_livesum_*.db")} - {victim}
            if len(live) == 2:
                break
            time.sleep(0.2)
        while time.monotonic() < deadline and value(scrape(base), "service_ready") != 1:
            time.sleep(0.2)  # the replacement worker loads the model: not ready (0) until then
        assert not list(metrics_dir.glob(f"gauge_live*_{victim}.db"))
        m = scrape(base)
        assert value(m, "http_server_request_duration_seconds_count", route=PREDICT, status_code="200") == n
        assert value(m, "service_ready") == 1


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    """A service exporting every trace over OTLP/HTTP to a local sink; (base URL, log, spans file)."""
    tmp = tmp_path_factory.mktemp("traced")
    spans = tmp / "spans.jsonl"
    port = processes.free_port()
    sink = ["-m", "tests.otlp_sink", "--port", str(port), "--out", str(spans)]
    otel = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "OTEL_TRACES_SAMPLER": "parentbased_always_on",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    with processes.running(sink, ready_url=f"http://127.0.0.1:{port}/"):
        os.environ.update(otel)
        try:
            with processes.service(tmp) as base:
                yield base, tmp / "service.log", spans
        finally:
            for key in otel:
                os.environ.pop(key)


def wait_for_spans(spans: Path, trace_id: str) -> list[dict[str, object]]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if spans.exists():
            found = [s for s in map(json.loads, spans.read_text().splitlines()) if s["trace_id"] == trace_id]
            if len(found) >= 2:
                return found
        time.sleep(0.1)
    raise AssertionError(f"no spans of trace {trace_id}")


def test_log_trace_id_is_the_request_span_and_an_exemplar(traced: tuple[str, Path, Path]) -> None:
    base, log, spans = traced
    assert httpx.post(f"{base}{PREDICT}", json=RECORD, headers={"X-Request-ID": "traced-1"}).status_code == 200
    line = logged(log, "traced-1")["traced-1"]
    trace_id = str(line["trace_id"])
    assert re.fullmatch(r"[0-9a-f]{32}", trace_id)
    found = wait_for_spans(spans, trace_id)
    server = [s for s in found if s["span_id"] == line["span_id"]]
    assert len(server) == 1 and server[0]["name"] == f"POST {PREDICT}"
    # The stable HTTP semantic conventions, not the deprecated names.
    assert server[0]["attributes"]["http.route"] == PREDICT
    assert server[0]["attributes"]["http.request.method"] == "POST"
    assert server[0]["attributes"]["http.response.status_code"] == 200
    assert "http.method" not in server[0]["attributes"]
    (child,) = [s for s in found if s["name"] == "model.predict"]
    assert child["parent_span_id"] == line["span_id"]
    assert child["attributes"] == {"model.version": line["model_version"], "model.batch_size": 1}
    assert server[0]["service_name"] == "insurance-charges"

    scraped = httpx.get(f"{base}/metrics", headers={"Accept": OPENMETRICS})
    assert scraped.headers["content-type"].startswith("application/openmetrics-text")
    bucket = r'^http_server_request_duration_seconds_bucket\{[^}]*route="/v1/predict"[^}]*\} \S+'
    exemplars = re.findall(bucket + r' # \{trace_id="([0-9a-f]{32})"\}', scraped.text, flags=re.MULTILINE)
    assert trace_id in exemplars
    assert scraped.text.rstrip().endswith("# EOF")


def test_probes_and_metrics_are_not_traced(traced: tuple[str, Path, Path]) -> None:
    base, log, _ = traced
    httpx.get(f"{base}/healthz", headers={"X-Request-ID": "probe-1"})
    line = logged(log, "probe-1")["probe-1"]
    assert line["trace_id"] is None and line["route"] == "/healthz"


ADMIN = {"Authorization": "Bearer s3cret"}


def test_admin_endpoint_is_absent_without_a_token(client: httpx.Client) -> None:
    assert client.get("/admin/faults").status_code == 404
    assert client.post("/admin/faults", json={"routes": {}}, headers=ADMIN).status_code == 404


def test_fault_injection(tmp_path: Path) -> None:
    with processes.service(tmp_path, admin_token="s3cret") as base, httpx.Client(base_url=base) as c:
        faults = {"routes": {PREDICT: {"error_rate": 1.0}}}
        assert c.post("/admin/faults", json=faults).status_code == 401
        assert c.post("/admin/faults", json=faults, headers={"Authorization": "Bearer wrong"}).status_code == 403
        assert c.get("/admin/faults", headers={"Authorization": "Basic s3cret"}).status_code == 401
        assert c.post("/admin/faults", json={"routes": {"/nope": {}}}, headers=ADMIN).status_code == 422
        assert c.post("/admin/faults", json=faults, headers=ADMIN).status_code == 200
        assert c.get("/admin/faults", headers=ADMIN).json()["routes"][PREDICT]["error_rate"] == 1.0
        assert [c.post(PREDICT, json=RECORD).status_code for _ in range(5)] == [500] * 5
        assert c.post(f"{PREDICT}/batch", json={"records": [RECORD]}).status_code == 200

        slow = {"routes": {PREDICT: {"latency_rate": 1.0, "latency_seconds": 0.3, "latency_jitter_seconds": 0.1}}}
        assert c.post("/admin/faults", json=slow, headers=ADMIN).status_code == 200
        start = time.monotonic()
        assert c.post(PREDICT, json=RECORD).status_code == 200
        assert 0.3 <= time.monotonic() - start < 1.0

        assert c.post("/admin/faults", json={"routes": {}}, headers=ADMIN).json() == {"routes": {}}
        start = time.monotonic()
        assert c.post(PREDICT, json=RECORD).status_code == 200
        assert time.monotonic() - start < 0.3
        m = scrape(base)
    assert value(m, "service_faults_injected_total", route=PREDICT, kind="error") == 5
    assert value(m, "service_faults_injected_total", route=PREDICT, kind="latency") == 1
    assert value(m, "http_server_request_duration_seconds_count", route=PREDICT, status_code="500") == 5
    faulted = [line for line in request_lines(tmp_path / "service.log") if "fault" in line]
    assert sorted(str(line["fault"]) for line in faulted) == ["error"] * 5 + ["latency"]


def test_faults_reach_every_worker(tmp_path: Path) -> None:
    """A drill's POST lands on one worker; the faults must hold in all of them."""
    with processes.service(tmp_path, admin_token="s3cret", workers="2") as base:
        faults = {"routes": {PREDICT: {"error_rate": 1.0}}}
        assert httpx.post(f"{base}/admin/faults", json=faults, headers=ADMIN).status_code == 200
        time.sleep(1.0)  # each worker looks at the shared faults at most every 0.5 s
        # A new connection per request: the kernel spreads them over both workers.
        assert {httpx.post(f"{base}{PREDICT}", json=RECORD).status_code for _ in range(40)} == {500}
        assert httpx.post(f"{base}/admin/faults", json={"routes": {}}, headers=ADMIN).status_code == 200
        time.sleep(1.0)
        assert {httpx.post(f"{base}{PREDICT}", json=RECORD).status_code for _ in range(40)} == {200}
        m = scrape(base)
    assert value(m, "service_faults_injected_total", route=PREDICT, kind="error") == 40


def test_faults_from_settings_and_shedding(tmp_path: Path) -> None:
    slow = {"routes": {PREDICT: {"latency_rate": 1.0, "latency_seconds": 1.0}}}
    settings = {"faults": json.dumps(slow), "max_concurrent_predictions": "2", "retry_after_seconds": "3"}
    with processes.service(tmp_path, **settings) as base:

        def post(_: int) -> tuple[int, str | None, float]:
            start = time.monotonic()
            r = httpx.post(f"{base}{PREDICT}", json=RECORD, timeout=10)
            return r.status_code, r.headers.get("retry-after"), time.monotonic() - start

        with ThreadPoolExecutor(6) as pool:
            results = list(pool.map(post, range(6)))
        m = scrape(base)
    ok = [r for r in results if r[0] == 200]
    shed = [r for r in results if r[0] == 503]
    assert len(ok) == 2 and len(shed) == 4
    assert all(retry == "3" and seconds < 0.8 for _, retry, seconds in shed)
    assert all(seconds >= 1.0 for _, _, seconds in ok)
    assert value(m, "http_server_shed_requests_total", route=PREDICT) == 4
    assert value(m, "http_server_request_duration_seconds_count", route=PREDICT, status_code="503") == 4
