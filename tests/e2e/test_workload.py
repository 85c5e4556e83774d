"""A workload of one's own against a server nobody here wrote: a JSONL workload with a JSON-field check and a
secret header from the environment, sent by `python -m loadgen run` and by the daemon (real processes, real
sockets on loopback) to a small model server that answers every fourth request 200 without its field. Those
answers are `check` failures: in the results, the verdict, and the daemon's /metrics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from contract import metrics as contract
from tests import processes

#: A model server of the kind this stack is for, and nothing of ours: stdlib only, HTTP/1.1 keep-alive. It
#: refuses a request without the bearer token (401) and answers every fourth one 200 with no `predictions`.
SERVER = """
import itertools, json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

counter, lock = itertools.count(1), threading.Lock()

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, status, doc):
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.reply(200, {"status": "ok"})

    def do_POST(self):
        doc = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.headers.get("Authorization") != "Bearer s3cret":
            return self.reply(401, {"error": "who are you"})
        with lock:
            n = next(counter)
        if n % 4 == 0:
            return self.reply(200, {"warning": "model reloading"})
        self.reply(200, {"predictions": [sum(row) for row in doc["instances"]]})

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""

WORKLOAD = """
- name: predict
  path: /v2/models/iris/infer
  headers: {Authorization: "Bearer ${MODEL_TOKEN}"}
  body: {jsonl: bodies.jsonl}
  check: {status: [200], json_field: predictions.0}
"""


@pytest.fixture
def target(tmp_path: Path) -> tuple[str, Path]:
    """The server's base URL, and a scenario (its workload beside it) sending to it."""
    (tmp_path / "server.py").write_text(SERVER)
    (tmp_path / "bodies.jsonl").write_text("".join(json.dumps({"instances": [[i, 1.5], [2, i]]}) + "\n"
                                                   for i in range(5)))  # fmt: skip
    (tmp_path / "workload.yaml").write_text(WORKLOAD)
    (tmp_path / "scenario.yaml").write_text(
        "description: iris\nprofile: {kind: constant, rate: 40}\nworkload: workload.yaml\n"
    )
    return str(tmp_path / "server.py"), tmp_path / "scenario.yaml"


def run(port: int, scenario: Path, out: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loadgen", "run", "--quiet", "--target", f"http://127.0.0.1:{port}", "--scenario",
         str(scenario), "--requests", "40", "--threshold", "failed_rate==0", "--out", str(out)],
        cwd=processes.ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_answers_without_the_field_are_check_failures(target: tuple[str, Path], tmp_path: Path) -> None:
    server, scenario = target
    port = processes.free_port()
    with processes.running([server, str(port)], ready_url=f"http://127.0.0.1:{port}/health"):
        r = run(port, scenario, tmp_path / "out", {"MODEL_TOKEN": "s3cret"})
        assert r.returncode == 99, r.stderr  # the run finished; failed_rate==0 did not hold
        doc = json.loads((tmp_path / "out" / "results.json").read_text())
        # Exactly every fourth answer lacked its field: 10 of 40, each a `check` failure, all on `predict`.
        assert doc["outcomes"] == {"200": 30, "check": 10} and doc["routes"] == {"predict": doc["outcomes"]}
        assert doc["errors"] == doc["failed"] == 10 and doc["error_rate"] == pytest.approx(0.25)
        assert [t["ok"] for t in doc["thresholds"] if t["threshold"] == "failed_rate==0"] == [False]
        assert "${MODEL_TOKEN}" in json.dumps(doc["settings"]) and "s3cret" not in json.dumps(doc)  # no secret kept

        # Without the secret in the environment: a clear error, and nothing sent.
        env = {k: v for k, v in os.environ.items() if k != "MODEL_TOKEN"}
        missing = subprocess.run(
            [sys.executable, "-m", "loadgen", "run", "--quiet", "--target", f"http://127.0.0.1:{port}", "--scenario",
             str(scenario), "--requests", "5", "--out", str(tmp_path / "none")],
            cwd=processes.ROOT, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert missing.returncode == 2
        assert "header Authorization needs the environment variable MODEL_TOKEN, which is not set" in missing.stderr
        assert not (tmp_path / "none").exists()


def test_the_daemon_counts_check_failures_in_its_metrics(target: tuple[str, Path], tmp_path: Path) -> None:
    server, scenario = target
    port, metrics_port = processes.free_port(), processes.free_port()
    env = {"LOADGEN_TARGET": f"http://127.0.0.1:{port}", "LOADGEN_METRICS_PORT": str(metrics_port),
           "LOADGEN_SCENARIO": str(scenario), "MODEL_TOKEN": "s3cret"}  # fmt: skip
    metrics = f"http://127.0.0.1:{metrics_port}/metrics"
    with (
        processes.running([server, str(port)], ready_url=f"http://127.0.0.1:{port}/health"),
        processes.running(
            ["-m", "loadgen", "daemon"],
            env,
            ready_url=f"http://127.0.0.1:{metrics_port}/healthz",
            log=tmp_path / "daemon.log",
        ) as daemon,  # fmt: skip
    ):
        deadline, counts = time.monotonic() + 30, dict[str, float]()
        while time.monotonic() < deadline and counts.get("check", 0) < 5:
            time.sleep(0.5)
            counts = outcomes(httpx.get(metrics, timeout=5).text)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(20) == 0
    assert counts.get("check", 0) >= 5 and set(counts) == {"200", "check"}, counts
    # One in four answers lacks its field (the server counts every request it answered).
    assert counts["check"] / (counts["200"] + counts["check"]) == pytest.approx(0.25, abs=0.05)


def outcomes(text: str) -> dict[str, float]:
    """The daemon's finished requests of `predict` by outcome; the latency histogram's count must be the 200s'
    alone (a failed check is counted, not timed)."""
    out: dict[str, float] = {}
    timed = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == contract.LOADGEN_REQUESTS.name:
                assert s.labels["route"] == "predict", s
                out[s.labels["outcome"]] = s.value
            if s.name == contract.LOADGEN_REQUEST_DURATION.name + "_count":
                timed += s.value
    assert timed == out.get("200", 0.0)
    return out
