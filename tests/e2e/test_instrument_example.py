"""The README's model service (examples/model_service.py, quoted there verbatim) run as written, over real sockets.

A plain FastAPI app serving the project's ONNX model that calls `instrument(app)` and `serve(app)`: its /metrics
shows our latency histogram under the app's own route template (an unknown path under `unmatched`) and none of
our service's model metrics, it writes one JSON line per request, and with the two tracing settings it sends
spans to an OTLP/HTTP receiver.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.model import resolve
from service.settings import DEFAULT_MODEL_DIR
from tests import otlp_sink
from tests.processes import ROOT, free_port, running

EXAMPLE = ROOT / "examples" / "model_service.py"
FEATURES = [42, 24.3, 2, 0, 0, 1, 0, 0, 0]  # the model's nine encoded features (service/features.py)


def test_the_readme_quotes_the_example_exactly() -> None:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.DOTALL)
    assert EXAMPLE.read_text() in blocks


@pytest.fixture(scope="module")
def sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An OTLP/HTTP trace receiver on a thread: (its base URL, the JSON lines of the spans it received)."""
    spans = tmp_path_factory.mktemp("otlp") / "spans.jsonl"
    server = otlp_sink.serve(0, spans)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", spans
    server.shutdown()
    server.server_close()


def test_the_example_serves_its_metrics_log_lines_and_traces(tmp_path: Path, sink: tuple[str, Path]) -> None:
    endpoint, spans = sink
    port = free_port()
    env = {
        "MODEL_PATH": str(resolve(DEFAULT_MODEL_DIR) / "model.onnx"),
        "SERVICE_PORT": str(port),
        "SERVICE_OTLP_ENDPOINT": endpoint,
        "SERVICE_TRACE_SAMPLE_RATIO": "1",
        "OTEL_BSP_SCHEDULE_DELAY": "50",
    }
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "example.log"
    with running([str(EXAMPLE)], env, ready_url=f"{base}/metrics", log=log), httpx.Client(base_url=base) as client:
        answers = [client.post("/predict", json=FEATURES) for _ in range(3)]
        unknown = client.post("/v1/secret-path-42", json=FEATURES)
        scraped = client.get("/metrics", headers={"Accept": "application/openmetrics-text"}).text
    assert [a.status_code for a in answers] == [200, 200, 200] and unknown.status_code == 404
    assert answers[0].json()["prediction"] > 0
    assert 'http_server_request_duration_seconds_count{method="POST",route="/predict",status_code="200"} 3' in scraped
    assert 'http_server_request_duration_seconds_count{method="POST",route="unmatched",status_code="404"} 1' in scraped
    assert "secret-path" not in scraped
    exemplar = r'http_server_request_duration_seconds_bucket\{.*route="/predict".*# \{trace_id="\w{32}"\}'
    assert re.search(exemplar, scraped)
    assert 'http_server_shed_requests_total{route="/predict"} 0' in scraped
    assert "service_ready 1" in scraped
    assert "model_" not in scraped  # the service's own model metrics are not the library's
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("event") == "request" and line["route"] != "/metrics"]  # (probes)
    assert [(r["route"], r["status_code"]) for r in requests] == [("/predict", 200)] * 3 + [("unmatched", 404)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", r["trace_id"]) for r in requests[:3])
    exported = [json.loads(line) for line in spans.read_text().splitlines()] if spans.exists() else []
    servers = [s for s in exported if s["trace_id"] in {r["trace_id"] for r in requests[:3]}]
    assert len({s["trace_id"] for s in servers}) == 3 and {s["service_name"] for s in servers} == {"my-model"}
