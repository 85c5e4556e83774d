"""The load generator against the real service in real processes: a bounded run's numbers and reports, and
the daemon riding out a restart of its target. Everything that needs no service process (the client's wire
behaviour, the engine, exit codes, --quiet, --slo, draining on SIGTERM, a stalling target) is in
tests/unit/loadgen."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from contract import metrics as contract
from loadgen.payloads import ROUTES
from tests import processes
from tests.unit.loadgen.stats import poisson_bounds

T = TypeVar("T")
Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]

#: Sample name -> label names, as the contract says the daemon exposes them (histograms by their _count).
CONTRACT_SAMPLES = {
    contract.LOADGEN_REQUEST_DURATION.name + "_count": set(contract.LOADGEN_REQUEST_DURATION.labels),
    **{m.name: set(m.labels) for m in (contract.LOADGEN_REQUESTS, contract.LOADGEN_SCHEDULED, contract.LOADGEN_SENT,
                                       contract.LOADGEN_DROPPED, contract.LOADGEN_IN_FLIGHT,
                                       contract.LOADGEN_TARGET_RATE)},
}  # fmt: skip


def loadgen_run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loadgen", "run", "--quiet", *args],
        cwd=processes.ROOT, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def scrape(url: str) -> Samples:
    """sample name -> {sorted labels -> value} (histograms: only their _count samples)."""
    out: Samples = {}
    for family in text_string_to_metric_families(httpx.get(url, timeout=5).text):
        for s in family.samples:
            if family.type == "histogram" and not s.name.endswith("_count"):
                continue
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(v for k, v in samples.get(name, {}).items() if set(labels.items()) <= set(k))


def poll(probe: Callable[[], T], done: Callable[[T], bool], timeout: float = 20.0) -> T:
    """probe() until done(result); the last result, which fails the test if the deadline passed first."""
    deadline = time.monotonic() + timeout
    while not done(result := probe()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert done(result), f"not done after {timeout} s: {result}"
    return result


def test_run_holds_the_rate_with_about_10_percent_422s_and_passes(service_url: str, tmp_path: Path) -> None:
    r = loadgen_run(
        "--target", service_url, "--rate", "50", "--duration", "10s", "--invalid-fraction", "0.1",
        "--routes", "single=8,batch=1,original=1", "--seed", "7", "--out", str(tmp_path),
        "--threshold", "error_rate<0.01", "--threshold", "rps>45", "--threshold", "p(99)<5s",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr + r.stdout
    assert r.stdout == r.stderr == ""  # --quiet
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["scheduled"] == 500 and doc["dropped"] == 0
    assert doc["completed"] / 10.0 == pytest.approx(50, rel=0.02)  # achieved rate within 2% over 10 s
    assert doc["rps"] == pytest.approx(50, rel=0.02)
    assert set(doc["outcomes"]) == {"200", "422"}
    # The deck holds exactly 10% invalid requests, dealt in a seeded order: 500 of them hold about as many.
    assert doc["outcomes"]["422"] / doc["completed"] == pytest.approx(0.10, abs=0.03)
    assert doc["error_rate"] == 0 and doc["passed"] is True
    assert set(doc["routes"]) == set(ROUTES.values())
    html = (tmp_path / "report.html").read_text()
    assert html.count("<svg") == 5  # latency, throughput, outcomes, in flight and dropped, schedule lag
    assert not re.search(r"<script|<link|src=|href=", html)  # self-contained: nothing fetched
    assert (tmp_path / "results.csv").read_text().splitlines()[0].startswith("t,target_rps,")
    series = doc["series"]  # one point per second of the schedule (not of the connection warm-up before it)
    assert series[0]["t"] == pytest.approx(1.0, abs=0.2) and series[0]["sent"] == pytest.approx(50, abs=3)


def test_daemon_survives_a_target_restart_and_serves_the_contract_metrics(tmp_path: Path) -> None:
    rate = 20.0
    port, metrics_port = processes.free_port(), processes.free_port()
    base, metrics_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}/metrics"
    service_env = {"SERVICE_HOST": "127.0.0.1", "SERVICE_PORT": str(port)}
    env = {"LOADGEN_TARGET": base, "LOADGEN_METRICS_PORT": str(metrics_port), "LOADGEN_RATE": f"{rate:g}",
           "LOADGEN_INVALID_FRACTION": "0"}  # fmt: skip
    ready = f"http://127.0.0.1:{metrics_port}/healthz"
    requests = contract.LOADGEN_REQUESTS.name
    scheduled = contract.LOADGEN_SCHEDULED.name
    with processes.running(["-m", "loadgen", "daemon"], env, ready_url=ready, log=tmp_path / "daemon.log") as daemon:
        with processes.service_process(service_env, base, tmp_path / "service1.log"):
            up = poll(lambda: scrape(metrics_url), lambda m: total(m, requests, outcome="200") > 0)
        for name, labels in CONTRACT_SAMPLES.items():
            assert name in up, name
            assert all(set(dict(k)) == labels for k in up[name]), (name, up[name])
        assert total(up, contract.LOADGEN_TARGET_RATE.name) == rate

        # The target is gone: errors are counted by kind and the schedule goes on at its rate. The count over
        # a measured window (Poisson arrivals) must lie within bounds a correct schedule leaves once in 1e6.
        t0 = time.monotonic()
        before = scrape(metrics_url)
        t1 = time.monotonic()
        time.sleep(2.0)  # the measurement window, not a wait for something to happen
        t2 = time.monotonic()
        down = scrape(metrics_url)
        t3 = time.monotonic()
        lo, hi = poisson_bounds(rate * (t2 - t1))[0], poisson_bounds(rate * (t3 - t0))[1]
        assert lo <= total(down, scheduled) - total(before, scheduled) <= hi, (lo, hi)
        assert total(down, requests, outcome="connect") > total(before, requests, outcome="connect")
        ok_while_down = total(down, requests, outcome="200")

        # The target is back on the same port: traffic resumes by itself.
        with processes.service_process(service_env, base, tmp_path / "service2.log"):
            poll(lambda: scrape(metrics_url), lambda m: total(m, requests, outcome="200") - ok_while_down >= 20)
        assert daemon.poll() is None
    assert daemon.returncode == 0  # SIGTERM: drained and exited cleanly
