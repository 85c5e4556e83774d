"""Bring the local stack up, show it while it runs, and stop it cleanly.

stack/supervisor.py runs the Procfile's lines (each in its own process group, its output in run/logs/NAME.log)
and stops them all on Ctrl-C or SIGTERM: SIGTERM to every group, SIGKILL to what is left after 5 s. This module
renders the configs, waits for readiness, says where to look, then keeps the live status on the terminal
(stack/status/; with --logs, the processes' logs instead) and, in bounded soak mode, prints the SLO report
after the duration. A process that stops on its own stops the stack: one line names it and its log. With a
target (stack/target.py) the service is not run: the target is checked, the rules generated from the spec.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console

from generators.prometheus.config import MetricsEndpoint, PrometheusTargets, prometheus_config
from generators.yamlout import dump
from slo.spec import Spec, load_spec, load_specs
from stack import logtail, procfile, report, target
from stack.page import build
from stack.processes import answers
from stack.prometheus import Prometheus
from stack.server_series import OURS, server_series
from stack.settings import ROOT, StackSettings
from stack.status.model import Source, Watched
from stack.status.render import shown
from stack.status.screen import Screen
from stack.supervisor import Supervisor

EXIT_OK, EXIT_BREACH, EXIT_FAILED = 0, 1, 2
#: Seconds a status query may take: the screen shows "n/a" rather than wait on a stuck Prometheus.
STATUS_TIMEOUT = 2.0


def wait_for(url: str, timeout: float) -> bool:
    """Poll url until it answers 200; False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if answers(url):
            return True
        time.sleep(0.25)
    return False


def addresses(settings: StackSettings) -> dict[str, str]:
    """Process name -> its base URL."""
    ports = {
        "service": settings.service_port,
        "loadgen": settings.loadgen_port,
        "prometheus": settings.prometheus_port,
        "alertmanager": settings.alertmanager_port,
    }
    return {name: settings.url(port) for name, port in ports.items()}


def ready_urls(settings: StackSettings, running: list[str]) -> dict[str, str]:
    paths = {"service": "/readyz", "loadgen": "/metrics", "prometheus": "/-/ready", "alertmanager": "/-/ready"}
    return {name: f"{url}{paths[name]}" for name, url in addresses(settings).items() if name in running}


def links(settings: StackSettings, running: list[str]) -> dict[str, str]:
    """What to open, for the status screen: the service's docs (or the target), Prometheus and its alerts,
    Alertmanager."""
    url = addresses(settings)
    target_links = {"target": settings.target} if settings.target else {}
    if settings.target_metrics:
        target_links["metrics"] = settings.target_metrics
    found = {
        "docs": ("service", f"{url['service']}/docs"),
        "prometheus": ("prometheus", url["prometheus"]),
        "alerts": ("prometheus", f"{url['prometheus']}/alerts"),
        "alertmanager": ("alertmanager", url["alertmanager"]),
    }
    return {**target_links, **{what: link for what, (name, link) in found.items() if name in running}}


def where_to_look(settings: StackSettings, running: list[str]) -> str:
    lines = {
        "service": f"service       {settings.url(settings.service_port)}/docs  (metrics: /metrics)",
        "loadgen": f"loadgen       {settings.url(settings.loadgen_port)}/metrics",
        "prometheus": f"prometheus    {settings.url(settings.prometheus_port)}  (targets: /targets, alerts: /alerts)",
        "alertmanager": f"alertmanager  {settings.url(settings.alertmanager_port)}",
    }
    logs = f"logs          {shown(procfile.run_paths(settings)['logs'])}/NAME.log, one per process"
    target = []
    if settings.target is not None:
        metrics = f"  (metrics: {settings.target_metrics})" if settings.target_metrics else "  (no metrics scraped)"
        target = [f"target        {settings.target}{metrics}"]
    shown_lines = [*target, *(lines[name] for name in running), logs]
    return "\n".join(["the stack is up:", *(f"  {line}" for line in shown_lines), "Ctrl-C stops everything."])


def prepare(settings: StackSettings, without: frozenset[str]) -> Path:
    """Render the run's Procfile and Prometheus config under the run folder; returns the Procfile."""
    paths = procfile.run_paths(settings)
    for key in ("prometheus_data", "alertmanager_data", "logs"):
        paths[key].mkdir(parents=True, exist_ok=True)
    service: tuple[str, ...] = (f"{settings.host}:{settings.service_port}",)
    endpoint = MetricsEndpoint()
    rules = settings.path(settings.rules_dir)
    if settings.target is not None:  # the target's metrics, if any; the rules of the run's own spec
        service, rules = (), paths["rules"]
        if settings.target_metrics is not None:
            address, endpoint = MetricsEndpoint.from_url(settings.target_metrics)
            service = (address,)
        target.write_rules(settings.path(settings.slo_spec), rules, settings.rules_shrink, scraped=bool(service))
    targets = PrometheusTargets(
        service=service,
        service_endpoint=endpoint,
        loadgen=(f"{settings.host}:{settings.loadgen_port}",),
        prometheus=(f"{settings.host}:{settings.prometheus_port}",),
        alertmanager=(f"{settings.host}:{settings.alertmanager_port}",),
        rule_files=(str(rules / "*.yml"),),
        scrape_interval=settings.scrape_interval,
        evaluation_interval=settings.scrape_interval,
    )
    paths["prometheus_config"].write_text(dump(prometheus_config(targets), "python -m stack up"))
    paths["procfile"].write_text(procfile.render(settings, without))
    return paths["procfile"]


def service_side(settings: StackSettings) -> str | None:
    """The status's name for the server side: our service, the target, or none (a target without metrics)."""
    if settings.target is None:
        return "service"
    return "target" if settings.target_metrics is not None else None


def status_screen(settings: StackSettings, processes: Supervisor, running: list[str], console: Console) -> Screen:
    """The live status of this run: its Prometheus, its spec, its processes."""
    url = addresses(settings)
    ready = ready_urls(settings, running)
    window, shortest = settings.rate_windows()
    specs = load_specs(settings.path(settings.slo_spec))
    source = Source(
        prometheus=Prometheus(url["prometheus"], timeout=STATUS_TIMEOUT),
        specs=specs,
        watched=[Watched(name, url[name], ready[name], processes.log(name)) for name in running],
        pid=processes.pid,
        window=window,
        shortest=shortest,
        links=links(settings, running),
        logs=processes.logs,
        service_side=service_side(settings),
        server=server_series(specs) or OURS,
    )
    return Screen(source, console, settings.status_refresh, settings.status_interval)


def up(
    settings: StackSettings,
    duration: float | None = None,
    without: frozenset[str] = frozenset(),
    logs: bool = False,
    console: Console | None = None,
) -> int:
    """Run the stack until Ctrl-C/SIGTERM, or for `duration` seconds then report. Returns the exit code.

    The status shows on `console` (a terminal: live; elsewhere: a line per interval); with `logs`, the
    processes' output streams to stdout instead."""
    if settings.target is not None:
        target.check(settings)  # before anything starts: TargetError, one line
    running = [name for name in procfile.processes(settings) if name not in without]
    spec = load_spec(settings.path(settings.slo_spec)) if duration is not None else None
    prepare(settings, without)
    processes = Supervisor(procfile.chosen(settings, without), procfile.run_paths(settings)["logs"], ROOT)
    screen = None if logs else status_screen(settings, processes, running, console or Console())
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    # SIGHUP too: a closed terminal (or tmux session) stops the stack as Ctrl-C does, never orphaning a process
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    streaming = threading.Event()
    follower: threading.Thread | None = None
    code = EXIT_OK
    try:
        processes.start()
        if logs:
            follower = logtail.follow({n: processes.log(n) for n in running}, sys.stdout, streaming)
        else:
            print(f"stack: starting {', '.join(running)} (their output: {shown(processes.logs)}/NAME.log)", flush=True)
        code = _supervise(settings, processes, stop, running, duration, spec, screen)
    finally:
        processes.stop()
        if follower is not None:
            streaming.set()
            follower.join(5)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("stack: stopped", flush=True)
    return code


@contextlib.contextmanager
def showing(screen: Screen | None) -> Iterator[None]:
    """The status screen on for the block (none with --logs); off before anything else is printed."""
    if screen is not None:
        screen.start()
    try:
        yield
    finally:
        if screen is not None:
            screen.stop()


def _supervise(
    settings: StackSettings,
    processes: Supervisor,
    stop: threading.Event,
    running: list[str],
    duration: float | None,
    spec: Spec | None,
    screen: Screen | None = None,
) -> int:
    pending = ready_urls(settings, running)
    deadline = time.monotonic() + settings.ready_timeout
    while pending:
        if stop.is_set():
            return EXIT_OK
        if (gone := processes.exited()) is not None:
            print(f"stack: {gone.describe()}; it stopped before the stack was ready", file=sys.stderr)
            return EXIT_FAILED
        if time.monotonic() > deadline:
            logs = ", ".join(str(processes.log(name)) for name in sorted(pending))
            print(f"stack: not ready after {settings.ready_timeout}s: {sorted(pending)} (see {logs})", file=sys.stderr)
            return EXIT_FAILED
        pending = {name: url for name, url in pending.items() if not answers(url)}
        time.sleep(0.25)
    if screen is None or not screen.live:  # on a terminal the live screen says where to look
        print(where_to_look(settings, running), flush=True)
    started = time.monotonic()
    gone = None
    with showing(screen):
        while not stop.wait(0.25):
            if (gone := processes.exited()) is not None:
                break
            if duration is not None and time.monotonic() - started >= duration:
                break
    if gone is not None:
        print(f"stack: {gone.describe()}; the stack is down", file=sys.stderr)
        return EXIT_FAILED
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
