"""The whole stack, live, for the end-to-end tests: real processes on free loopback ports.

The service, the loadgen daemon, Prometheus (with the rules generated from the spec, windows
optionally shrunk for drills) and optionally Alertmanager, wired together as in production but with
1 s scrapes. Everything stops when the block ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from generators.paths import SPEC
from generators.prometheus.config import PrometheusTargets, prometheus_config
from generators.repository import generate
from generators.yamlout import dump
from tests import processes, prom

ADMIN_TOKEN = "live-test-token"


@dataclass(frozen=True)
class Stack:
    service: str
    loadgen: str
    prometheus: str
    alertmanager: str | None
    service_log: Path
    loadgen_log: Path
    loadgen_pid: int


@contextmanager
def alertmanager(tmp: Path, config: Path | None = None) -> Iterator[str]:
    """Alertmanager with the repository's config (or `config`)."""
    args = [
        prom.binary("prometheus-alertmanager"),
        f"--config.file={config or processes.ROOT / 'prometheus' / 'alertmanager.yml'}",
        f"--storage.path={tmp / 'alertmanager'}",
        "--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=warn",
    ]
    with prom.server(args, "/-/ready", tmp / "alertmanager.log") as url:
        yield url


@contextmanager
def stack(
    tmp: Path,
    *,
    shrink: float = 1.0,
    with_alertmanager: bool = False,
    workers: int = 1,
    rate: float = 20.0,
    invalid_fraction: float = 0.01,
    alertmanager_config: Path | None = None,
    service_settings: Mapping[str, str] | None = None,
    loadgen_scenario: Callable[[str], Path] | None = None,
) -> Iterator[Stack]:
    """Service, loadgen daemon, Prometheus (and Alertmanager); rules from the spec, `shrink`x shorter windows.

    `service_settings` are more SERVICE_* settings (lower-case names, without the prefix); `loadgen_scenario`,
    called with the service's URL once it is ready, gives the daemon's scenario file (which then sets the load:
    `rate` and `invalid_fraction` are not used)."""
    with ExitStack() as stack:
        am = stack.enter_context(alertmanager(tmp, alertmanager_config)) if with_alertmanager else None
        service = stack.enter_context(
            processes.service(
                tmp, workers=str(workers), admin_token=ADMIN_TOKEN, log_inputs="false", **(service_settings or {})
            )
        )
        loadgen_port = processes.free_port()
        loadgen_log = tmp / "loadgen.log"
        loadgen_env = {
            "LOADGEN_TARGET": service,
            "LOADGEN_METRICS_PORT": str(loadgen_port),
            "LOADGEN_RATE": str(rate),
            "LOADGEN_INVALID_FRACTION": str(invalid_fraction),
        }
        if loadgen_scenario is not None:
            loadgen_env["LOADGEN_SCENARIO"] = str(loadgen_scenario(service))
        loadgen_url = f"http://127.0.0.1:{loadgen_port}"
        loadgen = stack.enter_context(
            processes.running(
                ["-m", "loadgen", "daemon"], loadgen_env, ready_url=f"{loadgen_url}/healthz", log=loadgen_log
            )
        )
        prom_dir = tmp / "prometheus"
        generate(SPEC, prom_dir, shrink=shrink)
        targets = PrometheusTargets(
            service=(service.removeprefix("http://"),),
            loadgen=(loadgen_url.removeprefix("http://"),),
            prometheus=(),
            alertmanager=(am.removeprefix("http://"),) if am else (),
            scrape_interval="1s",
            evaluation_interval="1s",
        )
        (prom_dir / "prometheus.yml").write_text(dump(prometheus_config(targets)))
        prometheus = stack.enter_context(prom.prometheus(prom_dir / "prometheus.yml", tmp / "prometheus-data"))
        yield Stack(service, loadgen_url, prometheus, am, tmp / "service.log", loadgen_log, loadgen.pid)
