"""prometheus.yml, rendered: local defaults checked in, targets overridable for compose or a drill.

A render step rather than file_sd: the same function writes the checked-in file (loopback
defaults), the drill's config (free ports, 1 s intervals), the local stack's config for a service it does not
run (`python -m stack up --target`: the target's metrics at any URL) and, with `python -m generators config`, any
other deployment's (e.g. `--service service:8000` in compose).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from contract.metrics import LOADGEN_JOB, SERVICE_JOB


@dataclass(frozen=True)
class MetricsEndpoint:
    """Where a job's metrics are, beyond host:port: Prometheus's scheme, metrics_path and params of a scrape."""

    scheme: str = "http"
    path: str = "/metrics"
    params: Mapping[str, Sequence[str]] = field(default_factory=dict)

    @classmethod
    def from_url(cls, url: str) -> tuple[str, MetricsEndpoint]:
        """host:port and the endpoint of a metrics URL (http://127.0.0.1:3000/admin/metrics?format=prometheus).

        ValueError, naming what is wrong, for anything Prometheus could not scrape: another scheme, no host,
        a bad port, a fragment."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"{url}: the scheme must be http or https")
        try:
            port = parts.port
        except ValueError:
            raise ValueError(f"{url}: the port is not a port number (1-65535)") from None
        if not parts.hostname:
            raise ValueError(f"{url}: no host")
        if parts.fragment or parts.username or parts.password:
            raise ValueError(f"{url}: a metrics URL holds no fragment and no user or password")
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        address = f"{host}:{port or (443 if parts.scheme == 'https' else 80)}"
        params = {k: tuple(v) for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        return address, cls(parts.scheme, parts.path or "/", params)

    def file_sd(self, address: str) -> list[dict[str, Any]]:
        """This endpoint at `address` as a file_sd target list: Prometheus's `__scheme__`, `__metrics_path__` and
        `__param_<name>` labels say what a static config's keys would (a parameter given twice cannot be said)."""
        doubled = [k for k, v in self.params.items() if len(v) != 1]
        if doubled:
            raise ValueError(f"a file_sd target takes one value per parameter: {', '.join(doubled)} has more")
        labels = {"__scheme__": self.scheme, "__metrics_path__": self.path}
        labels.update({f"__param_{k}": v[0] for k, v in self.params.items()})
        return [{"targets": [address], "labels": labels}]

    def scrape(self) -> dict[str, Any]:
        """The scrape config's keys for this endpoint; none for the default (http, /metrics)."""
        keys: dict[str, Any] = {}
        if self.scheme != "http":
            keys["scheme"] = self.scheme
        if self.path != "/metrics":
            keys["metrics_path"] = self.path
        if self.params:
            keys["params"] = {k: list(v) for k, v in self.params.items()}
        return keys


@dataclass(frozen=True)
class PrometheusTargets:
    service: Sequence[str] = ("127.0.0.1:8000",)
    loadgen: Sequence[str] = ("127.0.0.1:9100",)
    prometheus: Sequence[str] = ("127.0.0.1:9090",)
    alertmanager: Sequence[str] = ("127.0.0.1:9093",)
    rule_files: Sequence[str] = field(default=("rules/*.yml",))
    scrape_interval: str = "15s"
    evaluation_interval: str = "15s"
    #: The service's metrics endpoint (a target the stack does not run may serve them anywhere).
    service_endpoint: MetricsEndpoint = field(default_factory=MetricsEndpoint)
    #: Instead of `service`: a file_sd file listing the service's metrics (a target known only when deployed).
    service_file_sd: str | None = None


#: Where each part runs in docker-compose.yml (service names on the compose network). The service serves its
#: metrics on a port of their own there (SERVICE_METRICS_PORT), not on the API's.
COMPOSE_SERVICE_METRICS_PORT = 9464
COMPOSE = PrometheusTargets(
    service=(f"service:{COMPOSE_SERVICE_METRICS_PORT}",),
    loadgen=("loadgen:9100",),
    prometheus=("localhost:9090",),
    alertmanager=("alertmanager:9093",),
)

#: docker-compose.target.yml's Prometheus: no service container; the folder SLO_TARGET_DIR, mounted at
#: COMPOSE_TARGET_DIR, holds the target's rules and its metrics as a file_sd list (`python -m stack target-dir`).
COMPOSE_TARGET_DIR = "/etc/slo-target"
COMPOSE_TARGET = PrometheusTargets(
    service=(),
    service_file_sd=f"{COMPOSE_TARGET_DIR}/metrics.yml",
    loadgen=COMPOSE.loadgen,
    prometheus=COMPOSE.prometheus,
    alertmanager=COMPOSE.alertmanager,
    rule_files=(f"{COMPOSE_TARGET_DIR}/rules/*.yml",),
)


def prometheus_config(t: PrometheusTargets | None = None) -> dict[str, Any]:
    t = t or PrometheusTargets()

    def job(name: str, targets: Sequence[str], endpoint: MetricsEndpoint | None = None) -> dict[str, Any] | None:
        if not targets:
            return None
        return {
            "job_name": name,
            **(endpoint.scrape() if endpoint else {}),
            "static_configs": [{"targets": list(targets)}],
        }

    service = job(SERVICE_JOB, t.service, t.service_endpoint)
    if t.service_file_sd is not None:
        service = {"job_name": SERVICE_JOB, "file_sd_configs": [{"files": [t.service_file_sd]}]}
    jobs = (service, job(LOADGEN_JOB, t.loadgen), job("prometheus", t.prometheus))
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": t.scrape_interval,
            "evaluation_interval": t.evaluation_interval,
            "external_labels": {"stack": "slo-stack"},
        },
        "rule_files": list(t.rule_files),
        "scrape_configs": [j for j in jobs if j is not None],
    }
    if t.alertmanager:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": list(t.alertmanager)}]}]}
    return config
