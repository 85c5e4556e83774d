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


#: Where each part runs in docker-compose.yml (service names on the compose network). The service serves its
#: metrics on a port of their own there (SERVICE_METRICS_PORT), not on the API's.
COMPOSE_SERVICE_METRICS_PORT = 9464
COMPOSE = PrometheusTargets(
    service=(f"service:{COMPOSE_SERVICE_METRICS_PORT}",),
    loadgen=("loadgen:9100",),
    prometheus=("localhost:9090",),
    alertmanager=("alertmanager:9093",),
)


def prometheus_config(t: PrometheusTargets | None = None) -> dict[str, Any]:
    t = t or PrometheusTargets()

    def job(name: str, targets: Sequence[str], endpoint: MetricsEndpoint | None = None) -> dict[str, Any]:
        return {
            "job_name": name,
            **(endpoint.scrape() if endpoint else {}),
            "static_configs": [{"targets": list(targets)}],
        }

    jobs = (
        job(SERVICE_JOB, t.service, t.service_endpoint),
        job(LOADGEN_JOB, t.loadgen),
        job("prometheus", t.prometheus),
    )
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": t.scrape_interval,
            "evaluation_interval": t.evaluation_interval,
            "external_labels": {"stack": "slo-stack"},
        },
        "rule_files": list(t.rule_files),
        "scrape_configs": [j for j in jobs if j["static_configs"][0]["targets"]],
    }
    if t.alertmanager:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": list(t.alertmanager)}]}]}
    return config
