"""The local stack (python -m stack) under honcho with a real Prometheus and Alertmanager: a bounded soak
that breaches, the real stack up with every target and rule, Ctrl-C leaving no process behind, and a clean
bounded soak of the real stack. (Its arguments, Procfile, settings and report are the fast tier's:
tests/unit/stack/.)

The breaching soak runs without the loadgen, against an SLO spec and rules over Prometheus's own request
counter: an SLO that cannot be met, through the same code paths (render, honcho, readiness, Prometheus
API, report, stop) as the real soak.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from stack import procfile
from stack.prometheus import Prometheus, PrometheusError
from tests import prom
from tests.processes import ROOT, free_port, stop


@pytest.fixture(autouse=True)
def prometheus_binaries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stack runs Debian's binaries: their paths (a skip, or a failure in CI, when one is missing)."""
    monkeypatch.setenv("STACK_PROMETHEUS_BIN", prom.binary("prometheus"))
    monkeypatch.setenv("STACK_ALERTMANAGER_BIN", prom.binary("prometheus-alertmanager"))


# Two SLOs over Prometheus's own HTTP requests: one met (no 5xx), one that cannot be (every request an error).
SPEC = {
    "version": "prometheus/v1",
    "service": "selftest",
    "slos": [
        {
            "name": "self-availability",
            "objective": 99.0,
            "sli": {
                "events": {
                    "error_query": 'sum(rate(prometheus_http_requests_total{code=~"5.."}[{{.window}}]))',
                    "total_query": "sum(rate(prometheus_http_requests_total[{{.window}}]))",
                }
            },
            "alerting": {"name": "SelfAvailabilityBurn"},
        },
        {
            "name": "self-impossible",
            "objective": 99.0,
            "sli": {
                "events": {
                    "error_query": "sum(rate(prometheus_http_requests_total[{{.window}}]))",
                    "total_query": "sum(rate(prometheus_http_requests_total[{{.window}}]))",
                }
            },
            "alerting": {"name": "SelfImpossibleBurn"},
        },
    ],
}


def sloth_rules(slo: str, error_expr: str) -> list[dict[str, object]]:
    labels = {"sloth_service": "selftest", "sloth_slo": slo, "sloth_id": f"selftest-{slo}"}
    return [
        {"record": "slo:sli_error:ratio_rate5m", "expr": error_expr, "labels": labels},
        {
            "record": "slo:period_error_budget_remaining:ratio",
            "expr": f'1 - slo:sli_error:ratio_rate5m{{sloth_slo="{slo}"}} / 0.01',
            "labels": labels,
        },
    ]


RULES = {
    "groups": [
        {
            "name": "selftest-slo",
            "interval": "1s",
            "rules": [
                *sloth_rules(
                    "self-availability",
                    '(sum(rate(prometheus_http_requests_total{code=~"5.."}[5m])) or vector(0))'
                    " / sum(rate(prometheus_http_requests_total[5m]))",
                ),
                *sloth_rules("self-impossible", "vector(1)"),
                {"alert": "SelfImpossibleBurn", "expr": 'slo:sli_error:ratio_rate5m{sloth_slo="self-impossible"} > 0'},
            ],
        }
    ]
}

ALERTMANAGER = {"route": {"receiver": "null"}, "receivers": [{"name": "null"}]}

#: The clean soak's length: with 1 s scrapes, ample for traffic in every SLI and every rule evaluating.
CLEAN_SOAK_SECONDS = 20


def free_ports() -> dict[str, str]:
    """A free loopback port for each process of the stack, as STACK_* variables."""
    return {f"STACK_{name.upper()}_PORT": str(free_port()) for name in procfile.PROCESSES}


def write_configs(tmp: Path) -> dict[str, str]:
    """Config files for a stack in tmp, on free ports; returns the STACK_* environment."""
    (tmp / "prom" / "rules").mkdir(parents=True)
    (tmp / "prom" / "rules" / "slo.yml").write_text(yaml.safe_dump(RULES))
    (tmp / "prom" / "slo.yaml").write_text(yaml.safe_dump(SPEC))
    (tmp / "prom" / "alertmanager.yml").write_text(yaml.safe_dump(ALERTMANAGER))
    return {
        **free_ports(),
        "STACK_SERVICE_WORKERS": "2",
        "STACK_RULES_DIR": str(tmp / "prom" / "rules"),
        "STACK_SCRAPE_INTERVAL": "1s",
        "STACK_ALERTMANAGER_CONFIG": str(tmp / "prom" / "alertmanager.yml"),
        "STACK_SLO_SPEC": str(tmp / "prom" / "slo.yaml"),
        "STACK_RUN_DIR": str(tmp / "run"),
        "STACK_READY_TIMEOUT": "60",
    }


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def leftovers(marker: str) -> list[str]:
    """Command lines of live processes that mention marker (the test's own folder)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                status = (proc / "status").read_text()
            except OSError:
                continue
            if marker in cmdline and "State:\tZ" not in status:
                found.append(cmdline)
    return found


def assert_all_stopped(env: dict[str, str], marker: str) -> None:
    ports = [int(env[k]) for k in env if k.endswith("_PORT")]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (any(map(port_open, ports)) or leftovers(marker)):
        time.sleep(0.2)
    assert not [p for p in ports if port_open(p)], "a port is still served after the stack stopped"
    assert not leftovers(marker), f"processes left behind: {leftovers(marker)}"


def stack(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "stack", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own group: a signal to the group is what a terminal's Ctrl-C does
    )


def run_to_end(proc: subprocess.Popen[bytes], timeout: float) -> int:
    """The exit code of a bounded run; stopped (and failed) if it overstays."""
    try:
        return proc.wait(timeout)
    finally:
        stop(proc)  # SIGTERM first: the stack stops its processes; a SIGKILL would orphan them


def test_bounded_soak_reports_from_prometheus_exits_1_on_a_breach_and_leaves_nothing(tmp_path: Path) -> None:
    env = write_configs(tmp_path)
    log = tmp_path / "stack.log"
    code = run_to_end(stack(["up", "--duration", "8", "--without", "loadgen"], env, log), 120)
    out = log.read_text()
    assert code == 1, out
    assert "the stack is up" in out and f"http://127.0.0.1:{env['STACK_PROMETHEUS_PORT']}" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("  self-")}
    assert rows["self-availability"].rstrip().endswith("ok"), out
    assert rows["self-impossible"].rstrip().endswith("BREACH"), out
    assert "alert SelfImpossibleBurn fired" in out
    saved = json.loads((tmp_path / "run" / "slo-report.json").read_text())
    availability = saved["slos"][0]
    assert availability["sli"] == 1.0 and availability["requests"] > 0 and availability["sli_5m_now"] == 1.0
    assert saved["slos"][1]["sli"] == 0.0 and saved["slos"][1]["budget_spent"] == pytest.approx(100.0)
    assert saved["ok"] is False
    assert_all_stopped(env, str(tmp_path))


def real_stack_env(tmp: Path) -> dict[str, str]:
    """The README's stack with the project's own configs, rules and scenario, on free ports, 1 s scrapes."""
    return {
        **free_ports(),
        "STACK_SCRAPE_INTERVAL": "1s",
        "STACK_RUN_DIR": str(tmp / "run"),
    }


def _prometheus_shows_the_stack_working(prometheus: Prometheus) -> bool:
    try:
        targets = prometheus.targets()
        rules = prometheus.query("slo:sli_error:ratio_rate5m")
    except (PrometheusError, OSError):  # not listening yet, or not ready
        return False
    jobs_up = {t["labels"]["job"] for t in targets if t["health"] == "up"}
    return jobs_up == {"service", "loadgen", "prometheus"} and len(rules) == 6  # 3 server-side SLOs, 3 synthetic


def test_the_real_stack_comes_up_every_target_up_rules_evaluating_and_ctrl_c_leaves_nothing(tmp_path: Path) -> None:
    env = real_stack_env(tmp_path)
    log = tmp_path / "stack.log"
    proc = stack(["up"], env, log)
    prometheus = Prometheus(f"http://127.0.0.1:{env['STACK_PROMETHEUS_PORT']}", timeout=2)
    try:
        deadline = time.monotonic() + 90
        while not _prometheus_shows_the_stack_working(prometheus):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        assert prometheus.get("/api/v1/alertmanagers")["activeAlertmanagers"], "Prometheus has no Alertmanager"
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        code = proc.wait(60)
    finally:
        stop(proc)  # SIGTERM first: the stack stops its processes; a SIGKILL would orphan them
    assert code == 0, log.read_text()
    assert "stack: stopped" in log.read_text()
    assert_all_stopped(env, str(tmp_path))


def test_a_clean_bounded_soak_of_the_real_stack_meets_every_slo(tmp_path: Path) -> None:
    env = real_stack_env(tmp_path)
    log = tmp_path / "stack.log"
    code = run_to_end(stack(["up", "--duration", str(CLEAN_SOAK_SECONDS)], env, log), 150)
    out = log.read_text()
    assert code == 0, out
    saved = json.loads((tmp_path / "run" / "slo-report.json").read_text())
    assert [s["name"] for s in saved["slos"]] == [
        "requests-availability",
        "requests-latency-500ms",
        "requests-latency-100ms",
        "synthetic-availability",
        "synthetic-latency-500ms",
        "synthetic-latency-100ms",
    ]
    assert all(s["requests"] > 0 for s in saved["slos"]) and saved["ok"] is True
    assert_all_stopped(env, str(tmp_path))
