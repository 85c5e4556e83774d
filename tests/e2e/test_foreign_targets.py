"""`python -m stack up --target` against model services nobody here wrote, started here on loopback, each serving
a scikit-learn model trained on the project's data set (tests/foreign/):

- a FastAPI app instrumented with prometheus-fastapi-instrumentator (preset `fastapi-instrumentator`),
- a BentoML service (preset `bentoml`), run from its own virtualenv, .venv-bentoml, built from its hashed lock.

For each, as a user would: `python -m slo init` from the target's preset, `python -m generators` for its
dashboards, a JSONL workload of the data set's records (a success is a 200 with `charges`), and one bounded soak
(`stack up --target --metrics --spec --scenario --duration`, windows shrunk 60x) that every assertion shares:
clean traffic first, then the test's own error switch in the target turns every prediction into a 500. During
the soak every query of the generated dashboards is run against the live Prometheus (repeated until each returns
data, as in test_dashboards_live.py) and the availability page must fire; after it, the report must name every
SLO of the spec and breach.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from stack.dashboard_check import Result, check
from stack.prometheus import Prometheus, PrometheusError
from tests.e2e.test_stack import assert_all_stopped, run_to_end, stack
from tests.e2e.test_stack_target import prometheus_binaries, target_env, wait_for_text
from tests.foreign import venv
from tests.foreign.model import records
from tests.processes import ROOT, free_port, running, stop, wait_until_ready

__all__ = ["prometheus_binaries"]  # the autouse fixture: the stack's Prometheus and Alertmanager binaries

#: The soak: long enough for 15 s rates and the shrunk windows to fill before and after the errors.
SOAK_SECONDS = 50
SOAK = f"{SOAK_SECONDS}s"
#: Seconds of clean traffic once the stack is up, before the target's error switch is turned on.
CLEAN_SECONDS = 15
#: Requests a second: well within either server's capacity (the issue measured BentoML at about 300).
RATE = 10
#: The data set's records the workload sends (its JSONL file).
BODIES = 200


@dataclass
class Target:
    """A foreign service: how to start it, the preset its metrics fit, its route, its error switch."""

    preset: str
    service: str
    route: str
    start: Callable[[Path], AbstractContextManager[str]]
    #: The path of the error switch's POST (a JSON body {"on": bool}).
    switch: str


@contextmanager
def instrumentator_app(tmp: Path) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = ["-m", "uvicorn", "tests.foreign.instrumentator_app:app", "--host", "127.0.0.1", "--port", str(port)]
    with running(args, ready_url=f"{base}/metrics", log=tmp / "target.log"):
        yield base


@contextmanager
def bentoml_service(tmp: Path) -> Iterator[str]:
    try:
        venv.ensure()
    except (venv.VenvError, OSError) as exc:
        message = f"the BentoML virtualenv cannot be built (python -m tests.foreign.venv): {exc}"
        if os.environ.get("CI"):  # CI builds it in scripts/setup: a skip there would prove nothing
            pytest.fail(message)
        pytest.skip(message)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = [str(venv.BENTOML), "serve", "tests.foreign.bentoml_service:Insurance", "--host", "127.0.0.1",
            "--port", str(port)]  # fmt: skip
    env = {**os.environ, "BENTOML_DO_NOT_TRACK": "true"}  # no usage reports: loopback only
    with (tmp / "target.log").open("wb") as out:
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_until_ready(f"{base}/readyz", proc)
            yield base
        finally:
            stop(proc)


TARGETS = {
    "fastapi-instrumentator": Target(
        "fastapi-instrumentator", "pfi-model", "/predict", instrumentator_app, "/admin/errors"
    ),
    "bentoml": Target("bentoml", "bento-model", "/predict", bentoml_service, "/errors"),
}


@dataclass
class Soak:
    """What one bounded soak against a target showed; the tests read it."""

    target: Target
    spec: dict[str, Any]
    init_stderr: str
    code: int
    out: str
    report: dict[str, Any]
    #: The titles of the dashboards generated for the spec (the SLO overview and the load's).
    dashboard_titles: set[str] = field(default_factory=set)
    dashboards: list[Result] = field(default_factory=list)
    dashboards_passed: bool = False
    pages: list[dict[str, Any]] = field(default_factory=list)


def scenario(tmp: Path, route: str) -> Path:
    """A JSONL workload of the data set's records to `route`, in a scenario of RATE requests a second."""
    (tmp / "bodies.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records()[:BODIES]))
    doc = {
        "description": "the insurance records to a foreign model service",
        "profile": {"kind": "constant", "rate": RATE},
        "workload": [
            {"path": route, "body": {"jsonl": "bodies.jsonl"}, "check": {"status": [200], "json_field": "charges"}}
        ],
        "timeout": "5s",
    }
    path = tmp / "scenario.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


def availability_page(alert: dict[str, Any]) -> bool:
    labels = alert["labels"]
    return (
        alert["state"] == "firing"
        and labels.get("sloth_severity") == "page"
        and "availability" in labels.get("sloth_slo", "")
    )


def drive(soak: Soak, base: str, prometheus: Prometheus, dashboards: Path, proc: subprocess.Popen[bytes]) -> None:
    """While the stack runs: clean traffic, then the error switch on; meanwhile run the dashboards' queries until
    each has returned data, and watch for the availability page (kept once seen). Bounded by the soak: it ends
    when both are seen, when the stack has exited, or after SOAK_SECONDS. A query that fails (Prometheus slow on
    a busy machine) is tried again on the next turn."""
    start = time.monotonic()
    switched = False
    while not (switched and soak.dashboards_passed and soak.pages) and time.monotonic() - start < SOAK_SECONDS:
        if proc.poll() is not None:
            return
        if not switched and time.monotonic() - start >= CLEAN_SECONDS:
            httpx.post(f"{base}{soak.target.switch}", json={"on": True}, timeout=5).raise_for_status()
            switched = True
        try:
            if not soak.dashboards_passed:
                soak.dashboards = check(prometheus.url, dashboards, rate_interval="15s", time_range="1m")
                soak.dashboards_passed = all(r.ok for r in soak.dashboards)
            if switched and not soak.pages:
                soak.pages = [a for a in prometheus.alerts() if availability_page(a)]
        except (PrometheusError, OSError):
            pass
        time.sleep(1.0)


@pytest.fixture(scope="module", params=sorted(TARGETS))
def soak(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Soak]:
    """One bounded soak of the stack against the target (see the module's docstring)."""
    target = TARGETS[request.param]
    tmp = tmp_path_factory.mktemp(target.preset)
    spec_path = tmp / "spec.yaml"
    init = python("-m", "slo", "init", "--preset", target.preset, "--service", target.service,
                  "--route", target.route, "--out", str(spec_path))  # fmt: skip
    assert init.returncode == 0, init.stderr
    generated = python("-m", "generators", "--spec", str(spec_path), "--out", str(tmp / "generated"))
    assert generated.returncode == 0, generated.stderr
    with target.start(tmp) as base:
        env = target_env(tmp)
        log = tmp / "stack.log"
        args = ["up", "--target", base, "--metrics", f"{base}/metrics", "--spec", str(spec_path),
                "--scenario", str(scenario(tmp, target.route)), "--duration", SOAK]  # fmt: skip
        proc = stack(args, env, log)
        soak = Soak(target, yaml.safe_load(spec_path.read_text()), init.stderr, 0, "", {})
        dashboards = tmp / "generated" / "dashboards"
        soak.dashboard_titles = {json.loads(p.read_text())["title"] for p in dashboards.glob("*.json")}
        try:
            wait_for_text(log, "the stack is up", 60)
            prometheus = Prometheus(f"http://127.0.0.1:{env['STACK_PROMETHEUS_PORT']}", timeout=5)
            drive(soak, base, prometheus, dashboards, proc)
        finally:
            soak.code = run_to_end(proc, 150)
        soak.out = log.read_text()
        report = tmp / "run" / "slo-report.json"
        soak.report = json.loads(report.read_text()) if report.is_file() else {}
        assert_all_stopped(env, str(tmp))
    yield soak


def test_slo_init_writes_the_presets_spec(soak: Soak) -> None:
    names = {slo["name"] for slo in soak.spec["slos"]}
    assert {"requests-availability", "requests-latency-500ms", "requests-latency-100ms"} <= names
    assert {"synthetic-availability"} <= names
    if soak.target.preset == "fastapi-instrumentator":  # its histogram has no status label: the caller is told
        assert "no status label" in soak.init_stderr


def test_the_report_names_every_slo_of_the_spec_and_breaches(soak: Soak) -> None:
    assert soak.code == 1, soak.out  # a breach
    assert "verdict: BREACH" in soak.out, soak.out
    names = {slo["name"] for slo in soak.spec["slos"]}
    reported = {slo["name"]: slo for slo in soak.report["slos"]}
    assert set(reported) == names, soak.out
    for name in names:
        assert any(line.split()[:1] == [name] for line in soak.out.splitlines()), f"{name} not in:\n{soak.out}"
    availability = reported["requests-availability"]
    # clean seconds and failing ones, both counted from the target's own metrics
    assert 0 < availability["errors"] < availability["requests"], availability
    assert soak.report["ok"] is False
    # The 500s come fast: where the histogram has a status label (BentoML's) they are bad events of the latency
    # SLIs too; prometheus-fastapi-instrumentator's has none, so they count as good there (slo init said so).
    fast_failures_count = soak.target.preset != "fastapi-instrumentator"
    assert reported["requests-latency-500ms"]["ok"] is not fast_failures_count, soak.out


def test_every_generated_dashboard_query_returns_data(soak: Soak) -> None:
    failed = [f"{r.query.dashboard} / {r.query.panel}: {r.query.expr} -> {r.error or 'no series'}"
              for r in soak.dashboards if not r.ok]  # fmt: skip
    assert soak.dashboards, "no dashboard query ran"
    assert {r.query.dashboard for r in soak.dashboards} == soak.dashboard_titles
    assert not failed, "\n".join(failed)
    assert soak.dashboards_passed


def test_the_fault_drill_pages(soak: Soak) -> None:
    slos = {a["labels"]["sloth_slo"] for a in soak.pages}
    assert "requests-availability" in slos, f"no availability page while the target failed: {soak.pages}"
