"""The Procfile: one line per process, every address and path taken from the settings.

`python -m stack up` runs these lines itself (stack/supervisor.py); the file is also a Procfile any runner
(honcho, foreman) can start by hand. Each line `exec`s its program so that a SIGTERM sent to the line's
process group reaches the program itself. The loadgen line first waits for the service's /readyz: start
order by health, as in compose. With a target (STACK_TARGET) there is no service line: the loadgen loads the
target, which was checked before the stack started (stack/target.py).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from stack.settings import StackSettings

PROCESSES = ("service", "loadgen", "prometheus", "alertmanager")


def processes(settings: StackSettings) -> tuple[str, ...]:
    """The processes this stack runs: all of them, or all but the service when it loads a target."""
    return PROCESSES if settings.target is None else tuple(p for p in PROCESSES if p != "service")


def run_paths(settings: StackSettings) -> dict[str, Path]:
    run = settings.path(settings.run_dir)
    return {
        "procfile": run / "Procfile",
        "prometheus_config": run / "prometheus" / "prometheus.yml",
        "prometheus_data": run / "prometheus" / "data",
        "alertmanager_data": run / "alertmanager",
        "logs": run / "logs",
        "rules": run / "prometheus" / "rules",  # a target's: generated from the run's spec
    }


def _line(*words: str | Path, env: dict[str, str | int] | None = None) -> str:
    assignments = [f"{k}={v}" for k, v in (env or {}).items()]
    return shlex.join(["exec", *(["env", *assignments] if assignments else []), *map(str, words)])


def commands(settings: StackSettings) -> dict[str, str]:
    """Process name -> shell command, for every process of the stack."""
    py = sys.executable
    paths = run_paths(settings)
    service_url = settings.url(settings.service_port)
    wait = shlex.join([py, "-m", "stack", "wait", f"{service_url}/readyz", "--timeout", str(settings.ready_timeout)])
    loadgen = _line(
        py,
        "-m",
        "loadgen",
        "daemon",
        "--scenario",
        settings.path(settings.loadgen_scenario),
        env={"LOADGEN_TARGET": settings.target or service_url, "LOADGEN_METRICS_PORT": settings.loadgen_port},
    )
    every = {
        "service": _line(
            py,
            "-m",
            "service",
            env={
                "SERVICE_HOST": settings.host,
                "SERVICE_PORT": settings.service_port,
                "SERVICE_WORKERS": settings.service_workers,
            },
        ),
        "loadgen": loadgen if settings.target is not None else f"{wait} && {loadgen}",
        "prometheus": _line(
            settings.prometheus_bin,
            f"--config.file={paths['prometheus_config']}",
            f"--storage.tsdb.path={paths['prometheus_data']}",
            f"--web.listen-address={settings.host}:{settings.prometheus_port}",
            "--enable-feature=exemplar-storage",
        ),
        "alertmanager": _line(
            settings.alertmanager_bin,
            f"--config.file={settings.path(settings.alertmanager_config)}",
            f"--storage.path={paths['alertmanager_data']}",
            f"--web.listen-address={settings.host}:{settings.alertmanager_port}",
            "--cluster.listen-address=",  # a single Alertmanager: no gossip port to collide with
        ),
    }
    return {name: cmd for name, cmd in every.items() if name in processes(settings)}


def chosen(settings: StackSettings, without: frozenset[str] = frozenset()) -> dict[str, str]:
    """The commands of every process but those `without` names (an unknown name is refused; the service is no
    process of a target's stack, so leaving it out changes nothing there)."""
    unknown = without - set(PROCESSES)
    if unknown:
        raise ValueError(f"unknown process(es) {sorted(unknown)}; the stack has {list(PROCESSES)}")
    return {name: cmd for name, cmd in commands(settings).items() if name not in without}


def render(settings: StackSettings, without: frozenset[str] = frozenset()) -> str:
    return "".join(f"{name}: {cmd}\n" for name, cmd in chosen(settings, without).items())
