"""Bring the local stack up under honcho, say where to look, and stop it cleanly.

honcho (an existing process manager) runs the Procfile: it starts each line in its own process group and,
on Ctrl-C or SIGTERM, sends SIGTERM to every group, then SIGKILL to what is left after 5 s. This module
only renders the configs, waits for readiness, prints the URLs and, in bounded soak mode, stops honcho
after the duration and prints the SLO report.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from generators.prometheus.config import PrometheusTargets, prometheus_config
from generators.yamlout import dump
from slo.spec import Spec, load_spec
from stack import procfile, report
from stack.page import build
from stack.processes import answers
from stack.prometheus import Prometheus
from stack.settings import ROOT, StackSettings

EXIT_OK, EXIT_BREACH, EXIT_FAILED = 0, 1, 2
STOP_TIMEOUT = 30.0  # honcho SIGKILLs after 5 s; this is the bound on waiting for honcho itself


def wait_for(url: str, timeout: float) -> bool:
    """Poll url until it answers 200; False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if answers(url):
            return True
        time.sleep(0.25)
    return False


def ready_urls(settings: StackSettings, running: list[str]) -> dict[str, str]:
    urls = {
        "service": f"{settings.url(settings.service_port)}/readyz",
        "loadgen": f"{settings.url(settings.loadgen_port)}/metrics",
        "prometheus": f"{settings.url(settings.prometheus_port)}/-/ready",
        "alertmanager": f"{settings.url(settings.alertmanager_port)}/-/ready",
    }
    return {name: url for name, url in urls.items() if name in running}


def where_to_look(settings: StackSettings, running: list[str]) -> str:
    lines = {
        "service": f"service       {settings.url(settings.service_port)}/docs  (metrics: /metrics)",
        "loadgen": f"loadgen       {settings.url(settings.loadgen_port)}/metrics",
        "prometheus": f"prometheus    {settings.url(settings.prometheus_port)}  (targets: /targets, alerts: /alerts)",
        "alertmanager": f"alertmanager  {settings.url(settings.alertmanager_port)}",
    }
    return "\n".join(["the stack is up:", *(f"  {lines[name]}" for name in running), "Ctrl-C stops everything."])


def prepare(settings: StackSettings, without: frozenset[str]) -> Path:
    """Render the run's Procfile and Prometheus config under the run folder; returns the Procfile."""
    paths = procfile.run_paths(settings)
    for key in ("prometheus_data", "alertmanager_data"):
        paths[key].mkdir(parents=True, exist_ok=True)
    targets = PrometheusTargets(
        service=(f"{settings.host}:{settings.service_port}",),
        loadgen=(f"{settings.host}:{settings.loadgen_port}",),
        prometheus=(f"{settings.host}:{settings.prometheus_port}",),
        alertmanager=(f"{settings.host}:{settings.alertmanager_port}",),
        rule_files=(str(settings.path(settings.rules_dir) / "*.yml"),),
        scrape_interval=settings.scrape_interval,
        evaluation_interval=settings.scrape_interval,
    )
    paths["prometheus_config"].write_text(dump(prometheus_config(targets), "python -m stack up"))
    paths["procfile"].write_text(procfile.render(settings, without))
    return paths["procfile"]


def up(settings: StackSettings, duration: float | None = None, without: frozenset[str] = frozenset()) -> int:
    """Run the stack until Ctrl-C/SIGTERM, or for `duration` seconds then report. Returns the exit code."""
    running = [name for name in procfile.PROCESSES if name not in without]
    spec = load_spec(settings.path(settings.slo_spec)) if duration is not None else None
    procfile_path = prepare(settings, without)
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    honcho = subprocess.Popen(
        [sys.executable, "-m", "honcho", "--no-colour", "-f", str(procfile_path), "-d", str(ROOT), "start"],
        cwd=ROOT,
    )
    code = EXIT_OK
    try:
        code = _supervise(settings, honcho, stop, running, duration, spec)
    finally:
        if honcho.poll() is None:
            honcho.send_signal(signal.SIGTERM)
        try:
            honcho.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            honcho.kill()
            honcho.wait()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("stack: stopped", flush=True)
    return code


def _supervise(
    settings: StackSettings,
    honcho: subprocess.Popen[bytes],
    stop: threading.Event,
    running: list[str],
    duration: float | None,
    spec: Spec | None,
) -> int:
    pending = ready_urls(settings, running)
    deadline = time.monotonic() + settings.ready_timeout
    while pending:
        if stop.is_set():
            return EXIT_OK
        if honcho.poll() is not None:
            print("stack: a process stopped before the stack was ready (see its output above)", file=sys.stderr)
            return EXIT_FAILED
        if time.monotonic() > deadline:
            print(f"stack: not ready after {settings.ready_timeout}s: {sorted(pending)}", file=sys.stderr)
            return EXIT_FAILED
        pending = {name: url for name, url in pending.items() if not answers(url)}
        time.sleep(0.25)
    print(where_to_look(settings, running), flush=True)
    started = time.monotonic()
    while not stop.wait(0.25):
        if honcho.poll() is not None:
            print("stack: a process stopped (see its output above); the stack is down", file=sys.stderr)
            return EXIT_FAILED
        if duration is not None and time.monotonic() - started >= duration:
            break
    if duration is None or spec is None or stop.is_set():
        return EXIT_OK
    window = max(1, round(time.monotonic() - started))
    prom = Prometheus(settings.url(settings.prometheus_port))
    result = report.build(prom, spec, window)
    print(report.render(result), flush=True)
    (settings.path(settings.run_dir) / "slo-report.json").write_text(result.to_json())
    try:  # the soak's page (stack/page/): a page that cannot be drawn must not hide the verdict
        run, data = settings.path(settings.run_dir), procfile.run_paths(settings)["prometheus_data"]
        page = build.write(prom, settings.path(settings.slo_spec), result, run, prometheus_data=data)
        print(f"page: {page}", flush=True)
    except Exception as exc:  # whatever failed (Prometheus gone, a dashboard the spec cannot generate): say it
        print(f"stack: the page was not written: {type(exc).__name__}: {exc}", file=sys.stderr)
    return EXIT_OK if result.ok else EXIT_BREACH
