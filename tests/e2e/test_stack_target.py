"""`python -m stack up --target`: the stack for a service it does not run, against a small FastAPI app started
here on loopback (tests/target_app.py: none of the project's service code, an error switch, metrics at an odd
path), with the real loadgen daemon, Prometheus and Alertmanager.

- A bounded soak with a spec over the loadgen's own metrics alone (no --metrics), windows shrunk 60x: the
  target's error switch is turned on once the stack is up, and the report names every SLO of that spec and
  breaches the availability one; the page is written; no service process ran.
- An unbounded run with --metrics at a path and query of the target's choosing: Prometheus scrapes it as job
  `service`, beside the loadgen, and loads the rules generated from the spec into the run folder.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from stack.prometheus import Prometheus, PrometheusError
from tests import prom
from tests.e2e.test_stack import assert_all_stopped, run_to_end, stack
from tests.processes import ROOT, free_port, running, stop
from tests.target_app import METRICS_PATH

DATA = ROOT / "tests" / "unit" / "stack" / "data"
LOADGEN_SPEC = DATA / "target-loadgen.yaml"
SERVICE_SPEC = DATA / "target-service.yaml"
SCENARIO = ROOT / "loadgen" / "scenarios" / "steady.yaml"  # 5 req/s on the prediction routes
SOAK = "40s"
#: Seconds of clean traffic before the target's errors are switched on (of the soak's 40).
CLEAN_SECONDS = 12
ERROR_RATE = 0.5
#: How much shorter the rules' windows are than the spec's: a page's windows fit in a soak of seconds.
RULES_SHRINK = 60
#: Prometheus's scrape and rule evaluation interval in these runs: short, as the shrunk windows are.
SCRAPE_SECONDS = 1


@pytest.fixture(autouse=True)
def prometheus_binaries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACK_PROMETHEUS_BIN", prom.binary("prometheus"))
    monkeypatch.setenv("STACK_ALERTMANAGER_BIN", prom.binary("prometheus-alertmanager"))


@pytest.fixture
def target(tmp_path: Path) -> Iterator[str]:
    """The small FastAPI app under uvicorn on a free loopback port; yields its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = ["-m", "uvicorn", "tests.target_app:app", "--host", "127.0.0.1", "--port", str(port)]
    with running(args, ready_url=f"{base}{METRICS_PATH}?format=text", log=tmp_path / "target.log"):
        yield base


def target_env(tmp: Path) -> dict[str, str]:
    """Free ports for the three processes a target's stack runs, scrapes every SCRAPE_SECONDS, rules shrunk RULES_SHRINK
    times."""
    return {
        **{f"STACK_{name.upper()}_PORT": str(free_port()) for name in ("loadgen", "prometheus", "alertmanager")},
        "STACK_SCRAPE_INTERVAL": f"{SCRAPE_SECONDS}s",
        "STACK_RULES_SHRINK": str(RULES_SHRINK),
        "STACK_RUN_DIR": str(tmp / "run"),
        "STACK_READY_TIMEOUT": "60",
    }


def wait_for_text(log: Path, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text():
        assert time.monotonic() < deadline, f"no {text!r} after {timeout}s:\n{log.read_text()}"
        time.sleep(0.2)


def test_a_bounded_soak_of_a_target_with_a_loadgen_only_spec_reports_its_slos_and_breaches_on_its_errors(
    tmp_path: Path, target: str
) -> None:
    env = target_env(tmp_path)
    log = tmp_path / "stack.log"
    args = ["up", "--target", target, "--spec", str(LOADGEN_SPEC), "--scenario", str(SCENARIO), "--duration", SOAK]
    proc = stack(args, env, log)
    try:
        wait_for_text(log, "the stack is up", 60)
        time.sleep(CLEAN_SECONDS)
        httpx.post(f"{target}/errors", json={"rate": ERROR_RATE}, timeout=5).raise_for_status()
    finally:
        code = run_to_end(proc, 150)
    out = log.read_text()
    assert code == 1, out
    run = tmp_path / "run"
    assert "service:" not in (run / "Procfile").read_text()  # no service process
    assert f"LOADGEN_TARGET={target}" in (run / "Procfile").read_text()
    table = [
        line.rstrip()
        for line in out.splitlines()
        if line.startswith("  ") and line.rstrip().endswith((" ok", " BREACH"))
    ]
    rows = {line.split()[0]: line for line in table}
    assert set(rows) == {"synthetic-availability", "synthetic-latency-500ms", "synthetic-latency-100ms"}, out
    assert rows["synthetic-availability"].endswith("BREACH"), out
    assert "SLO report for external-target" in out and "verdict: BREACH" in out
    saved = json.loads((run / "slo-report.json").read_text())
    availability = next(s for s in saved["slos"] if s["name"] == "synthetic-availability")
    # the clean seconds and the failing ones, both counted by the loadgen alone
    assert 0 < availability["errors"] < availability["requests"], availability
    assert availability["sli"] < 0.99 and saved["ok"] is False
    assert (run / "report.html").is_file() and "page: " in out
    assert_all_stopped(env, str(tmp_path))


def _scraped(prometheus: Prometheus) -> dict[str, dict[str, str]]:
    try:
        return {t["labels"]["job"]: t for t in prometheus.targets() if t["health"] == "up"}
    except (PrometheusError, OSError):  # not listening yet, or not ready
        return {}


def test_a_target_with_metrics_at_any_path_is_scraped_as_the_service_and_its_spec_rules_evaluate(
    tmp_path: Path, target: str
) -> None:
    env = target_env(tmp_path)
    log = tmp_path / "stack.log"
    metrics = f"{target}{METRICS_PATH}?format=text"
    args = ["up", "--target", target, "--metrics", metrics, "--spec", str(SERVICE_SPEC), "--scenario", str(SCENARIO)]
    proc = stack(args, env, log)
    prometheus = Prometheus(f"http://127.0.0.1:{env['STACK_PROMETHEUS_PORT']}", timeout=2)
    try:
        deadline = time.monotonic() + 90
        while set(up := _scraped(prometheus)) != {"service", "loadgen", "prometheus"}:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        assert up["service"]["scrapeUrl"] == metrics
        while not prometheus.query('target_predictions_total{job="service"} > 0'):
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        rules = {r["name"] for g in prometheus.get("/api/v1/rules")["groups"] for r in g["rules"]}
        assert "slo:sli_error:ratio_rate5m" in rules and "ServiceTargetDown" in rules  # the target is scraped
        os.killpg(proc.pid, signal.SIGINT)
        code = proc.wait(60)
    finally:
        stop(proc)
    assert code == 0, log.read_text()
    assert_all_stopped(env, str(tmp_path))
