"""`python -m stack up --target` against model services started here on loopback, each serving a scikit-learn model
trained on the project's data set (tests/foreign/), with the `python -m slo init` preset that fits its metrics:

- a BentoML service (preset `bentoml`), run from its own virtualenv, .venv-bentoml, built from its hashed lock,
- a FastAPI app instrumented with prometheus-fastapi-instrumentator (preset `fastapi-instrumentator`),
- a plain FastAPI app that calls our `instrument(app)` (preset `service`: our metric names).

For each, as a user would: `python -m slo init` from the target's preset, `python -m generators` for its
dashboards, a JSONL workload of the data set's records (a success is a 200 with `charges`), and one bounded soak
(`stack up --target --metrics --spec --scenario --duration 2m`, windows shrunk 60x) that every assertion shares:
clean traffic first, then the test's own error switch in the target turns every prediction into a 500. During
the soak every query of the generated dashboards is run against the live Prometheus (repeated until each returns
data, as in test_dashboards_live.py), and the availability page must fire within the bound its burn-rate rule
sets (PAGE_BOUND_SECONDS); after it, the report must name every SLO of the spec and breach.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
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

from slo.presets import PRESETS
from slo.windows import POLICY, Windows
from stack.dashboard_check import Result, check
from stack.prometheus import Prometheus, PrometheusError
from tests.e2e.test_stack import assert_all_stopped, run_to_end, stack
from tests.e2e.test_stack_target import RULES_SHRINK, SCRAPE_SECONDS, prometheus_binaries, target_env, wait_for_text
from tests.foreign import venv
from tests.foreign.fastapi_model import ROUTE, SWITCH
from tests.foreign.model import records
from tests.processes import ROOT, free_port, running, stop, wait_until_ready

__all__ = ["prometheus_binaries"]  # the autouse fixture: the stack's Prometheus and Alertmanager binaries

#: The soak, as the issue asks for it.
SOAK_SECONDS = 120
SOAK = f"{SOAK_SECONDS // 60}m"
#: Requests a second: well within every server's capacity (the issue measured BentoML at about 300).
RATE = 10
#: The data set's records the workload sends (its JSONL file).
BODIES = 200
#: The SLO whose page the fault drill must raise: the target's own availability, from its own metrics.
PAGED = "requests-availability"
#: The short window of the page condition that can fire at RATE (6x over 6h and 30m, shrunk): the 14.4x one's
#: short window holds fewer requests than its minimum-traffic guard asks (100).
PAGE_WINDOW = Windows(RULES_SHRINK).actual(POLICY["page"][1].short)
#: Seconds of clean traffic once the stack is up, before the target's error switch is turned on: the page's short
#: window fills with requests first, so its minimum-traffic guard holds from the switch on (at RATE it needs a
#: third of that window), and the dashboards' 15 s rate windows fill with good answers.
CLEAN_SECONDS = PAGE_WINDOW
#: How soon after the switch the page must fire. Every prediction fails from then on, so the error ratio is over
#: the burn-rate threshold in both windows as soon as they hold failed requests; at the latest, the short window
#: holds nothing but failures, however late the first ones were scraped. Then a scrape, and two rule evaluations
#: (the recorded ratios, then the alert that reads them).
PAGE_BOUND_SECONDS = PAGE_WINDOW + 3 * SCRAPE_SECONDS


@dataclass
class Target:
    """A foreign service: how to start it, the preset its metrics fit, its error switch."""

    preset: str
    service: str
    start: Callable[[Path], AbstractContextManager[str]]
    #: The path of the error switch's POST (a JSON body {"on": bool}).
    switch: str = SWITCH


def uvicorn_app(module: str) -> Callable[[Path], AbstractContextManager[str]]:
    """A FastAPI app (`module:app`) under uvicorn on a free port, as the target's `start`."""

    @contextmanager
    def start(tmp: Path) -> Iterator[str]:
        base = f"http://127.0.0.1:{(port := free_port())}"
        args = ["-m", "uvicorn", f"{module}:app", "--host", "127.0.0.1", "--port", str(port)]
        with running(args, ready_url=f"{base}/metrics", log=tmp / "target.log"):
            yield base

    return start


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
    # No usage reports (loopback only). A home of its own: BentoML keeps its metrics in a multiprocess folder there,
    # which it empties when it starts and its /metrics sums over every process that wrote into it: two services
    # sharing ~/bentoml (another run's, beside this one) erase each other's counts, or count each other's requests
    # (twice what the loadgen sent, seen with two at once).
    env = {**os.environ, "BENTOML_DO_NOT_TRACK": "true", "BENTOML_HOME": str(tmp / "bentoml")}
    with (tmp / "target.log").open("wb") as out:
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_until_ready(f"{base}/readyz", proc)
            yield base
        finally:
            stop(proc)


TARGETS = {
    "bentoml": Target("bentoml", "bento-model", bentoml_service, "/errors"),
    "fastapi-instrumentator": Target(
        "fastapi-instrumentator", "pfi-model", uvicorn_app("tests.foreign.instrumentator_app")
    ),
    "instrument": Target("service", "my-model", uvicorn_app("tests.foreign.instrument_app")),
}


@dataclass
class Soak:
    """What one bounded soak against a target showed; the tests read it."""

    target: Target
    spec: dict[str, Any]
    init_stderr: str
    code: int = 0
    out: str = ""
    report: dict[str, Any] = field(default_factory=dict)
    #: The titles of the dashboards generated for the spec (the SLO overview and the load's, and for ours more).
    dashboard_titles: set[str] = field(default_factory=set)
    dashboards: list[Result] = field(default_factory=list)
    dashboards_passed: bool = False
    #: Unix seconds when the error switch was turned on.
    switched_at: float | None = None
    #: Seconds from the switch to each page's first firing evaluation, by SLO name (Prometheus's ALERTS series).
    pages: dict[str, float] = field(default_factory=dict)
    #: The target's scrapes and the paged SLO's short-window numbers, second by second, until the page was seen.
    timeline: str = ""


def scenario(tmp: Path) -> Path:
    """A JSONL workload of the data set's records to the model's route, in a scenario of RATE requests a second."""
    (tmp / "bodies.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records()[:BODIES]))
    doc = {
        "description": "the insurance records to a foreign model service",
        "profile": {"kind": "constant", "rate": RATE},
        "workload": [
            {"path": ROUTE, "body": {"jsonl": "bodies.jsonl"}, "check": {"status": [200], "json_field": "charges"}}
        ],
        "timeout": "5s",
    }
    path = tmp / "scenario.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


PAGE_SERIES = 'ALERTS{alertstate="firing", sloth_severity="page", sloth_slo=~".*availability"}'


def first_pages(prometheus: Prometheus, since: float) -> dict[str, float]:
    """Seconds from `since` to the first evaluation at which each availability page fired, from Prometheus's own
    record of it (ALERTS): a poll of the alerts API could miss a page that fired and resolved between two polls."""
    series = prometheus.query_range(PAGE_SERIES, since, time.time(), 1.0)
    return {s["metric"]["sloth_slo"]: min(float(t) for t, _ in s["values"]) - since for s in series}


#: What the timeline shows each second: is the target scraped, how long a scrape takes, and the short-window
#: rates the page reads (recorded rules, so what the alert saw).
TIMELINE = {
    "up": 'up{job="service"}',
    "scrape_s": 'scrape_duration_seconds{job="service"}',
    "total/s": f'slo:sli_total_events:rate30m{{sloth_slo="{PAGED}"}}',
    "error_ratio": f'slo:sli_error:ratio_rate30m{{sloth_slo="{PAGED}"}}',
}


def timeline(prometheus: Prometheus, start: float, end: float) -> str:
    """TIMELINE's series, one line a second from start to end (seconds relative to start): the story of a page
    that came late or not at all."""
    columns = {name: dict(next(iter(prometheus.query_range(expr, start, end, 1.0)), {}).get("values", []))
               for name, expr in TIMELINE.items()}  # fmt: skip
    stamps = sorted({t for values in columns.values() for t in values})
    rows = [" ".join(f"{name}={columns[name].get(t, '-')}" for name in TIMELINE) for t in stamps]
    return "\n".join(f"{float(t) - start:6.0f}s {row}" for t, row in zip(stamps, rows, strict=True))


def drive(soak: Soak, base: str, prometheus: Prometheus, dashboards: Path, proc: subprocess.Popen[bytes]) -> None:
    """While the stack runs: clean traffic, then the error switch on; meanwhile ask Prometheus when the availability
    pages fired, and run the dashboards' queries until each has returned data. Bounded by the soak: it ends when
    both are seen (PAGED's own page: the synthetic one, from the loadgen's metrics, often fires a scrape or two
    earlier, and a loop that stopped at the first availability page missed PAGED's beside a busy test file), when
    the stack has exited, or after SOAK_SECONDS. Each query step that fails (Prometheus slow on a busy machine) is
    tried again on the next turn, apart: a slow dashboard query cannot hold up the page's."""
    start = time.monotonic()
    began = time.time()
    while proc.poll() is None and time.monotonic() - start < SOAK_SECONDS:
        if soak.switched_at is None and time.monotonic() - start >= CLEAN_SECONDS:
            httpx.post(f"{base}{soak.target.switch}", json={"on": True}, timeout=5).raise_for_status()
            soak.switched_at = time.time()
        if soak.switched_at is not None and PAGED not in soak.pages:
            with contextlib.suppress(PrometheusError, OSError):
                soak.pages = first_pages(prometheus, soak.switched_at)
                soak.timeline = timeline(prometheus, began, time.time())
        if not soak.dashboards_passed:
            with contextlib.suppress(PrometheusError, OSError):
                soak.dashboards = check(prometheus.url, dashboards, rate_interval="15s", time_range="1m")
                soak.dashboards_passed = all(r.ok for r in soak.dashboards)
        if soak.dashboards_passed and PAGED in soak.pages:
            return
        time.sleep(1.0)


@pytest.fixture(scope="module", params=sorted(TARGETS))
def soak(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Soak]:
    """One bounded soak of the stack against the target (see the module's docstring)."""
    target = TARGETS[request.param]
    tmp = tmp_path_factory.mktemp(request.param)
    spec_path = tmp / "spec.yaml"
    init = python("-m", "slo", "init", "--preset", target.preset, "--service", target.service,
                  "--route", ROUTE, "--out", str(spec_path))  # fmt: skip
    assert init.returncode == 0, init.stderr
    generated = python("-m", "generators", "--spec", str(spec_path), "--out", str(tmp / "generated"))
    assert generated.returncode == 0, generated.stderr
    with target.start(tmp) as base:
        env = target_env(tmp)
        log = tmp / "stack.log"
        args = ["up", "--target", base, "--metrics", f"{base}/metrics", "--spec", str(spec_path),
                "--scenario", str(scenario(tmp)), "--duration", SOAK]  # fmt: skip
        proc = stack(args, env, log)
        soak = Soak(target, yaml.safe_load(spec_path.read_text()), init.stderr)
        dashboards = tmp / "generated" / "dashboards"
        soak.dashboard_titles = {json.loads(p.read_text())["title"] for p in dashboards.glob("*.json")}
        try:
            wait_for_text(log, "the stack is up", 60)
            prometheus = Prometheus(f"http://127.0.0.1:{env['STACK_PROMETHEUS_PORT']}", timeout=5)
            drive(soak, base, prometheus, dashboards, proc)
        finally:
            soak.code = run_to_end(proc, SOAK_SECONDS + 30)
        soak.out = log.read_text()
        report = tmp / "run" / "slo-report.json"
        soak.report = json.loads(report.read_text()) if report.is_file() else {}
        assert_all_stopped(env, str(tmp))
    yield soak


def test_slo_init_writes_the_presets_spec(soak: Soak) -> None:
    names = {slo["name"] for slo in soak.spec["slos"]}
    assert {PAGED, "requests-latency-500ms", "requests-latency-100ms"} <= names
    assert {"synthetic-availability"} <= names
    limitation = PRESETS[soak.target.preset].limitation  # a histogram without a status label: the caller is told
    assert (limitation is not None) is ("no status label" in soak.init_stderr), soak.init_stderr


def test_the_report_names_every_slo_of_the_spec_and_breaches(soak: Soak) -> None:
    assert soak.code == 1, soak.out  # a breach
    assert "verdict: BREACH" in soak.out, soak.out
    names = {slo["name"] for slo in soak.spec["slos"]}
    reported = {slo["name"]: slo for slo in soak.report["slos"]}
    assert set(reported) == names, soak.out
    for name in names:
        assert any(line.split()[:1] == [name] for line in soak.out.splitlines()), f"{name} not in:\n{soak.out}"
    availability = reported[PAGED]
    # clean seconds and failing ones, both counted from the target's own metrics
    assert 0 < availability["errors"] < availability["requests"], availability
    # The target counted the requests the loadgen sent (a BentoML sharing ~/bentoml with another counted twice as
    # many); the two are scraped at different instants, so each end of the window may differ by a scrape's worth.
    sent = reported["synthetic-availability"]["requests"]
    assert abs(availability["requests"] - sent) <= 2 * RATE * SCRAPE_SECONDS, (availability, sent)
    assert soak.report["ok"] is False
    # The 500s come fast: where the histogram has a status label (BentoML's, ours) they are bad events of the
    # latency SLIs too; prometheus-fastapi-instrumentator's has none, so they count as good there (slo init said so).
    fast_failures_count = PRESETS[soak.target.preset].limitation is None
    assert reported["requests-latency-500ms"]["ok"] is not fast_failures_count, soak.out


def test_every_generated_dashboard_query_returns_data(soak: Soak) -> None:
    failed = [f"{r.query.dashboard} / {r.query.panel}: {r.query.expr} -> {r.error or 'no series'}"
              for r in soak.dashboards if not r.ok]  # fmt: skip
    assert soak.dashboards, "no dashboard query ran"
    assert {r.query.dashboard for r in soak.dashboards} == soak.dashboard_titles
    assert not failed, "\n".join(failed)
    assert soak.dashboards_passed


def test_the_fault_drill_pages_within_its_bound(soak: Soak) -> None:
    print(f"{soak.target.preset}: pages {soak.pages} s after the switch\n{soak.timeline}")  # shown by -rP
    assert PAGED in soak.pages, f"no {PAGED} page while the target failed:\n{soak.timeline}"
    assert soak.pages[PAGED] <= PAGE_BOUND_SECONDS, f"paged after {soak.pages[PAGED]:.0f} s:\n{soak.timeline}"


#: A status line's target side (stack/status/render.py's side_line): its total rate and its outcomes.
TARGET_SIDE = re.compile(r"\| target ([0-9.,]+) req/s \(([^)]*)\) p50 (.+?) p99 ([^|]+?)(?: \||$)", re.MULTILINE)


def test_the_status_shows_the_targets_own_traffic(soak: Soak) -> None:
    """The status lines read the target's own series, as its spec names them (stack/server_series.py): its rate,
    its 5xx once the switch is on, and its latency where its histogram has data."""
    sides = TARGET_SIDE.findall(soak.out)
    assert sides, soak.out
    assert any(float(total.replace(",", "")) > 0 for total, *_ in sides), sides
    assert any("5xx" in outcomes for _, outcomes, *_ in sides), sides
    assert any(p99.endswith((" ms", " s")) for *_, p99 in sides), sides
