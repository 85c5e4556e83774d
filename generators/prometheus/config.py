"""prometheus.yml, rendered: local defaults checked in, targets overridable for compose or a drill.

A render step rather than file_sd: the same function writes the checked-in file (loopback
defaults), the drill's config (free ports, 1 s intervals) and, with `python -m generators config`, any
other deployment's (e.g. `--service service:8000` in compose).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from contract.metrics import LOADGEN_JOB, SERVICE_JOB


@dataclass(frozen=True)
class PrometheusTargets:
    service: Sequence[str] = ("127.0.0.1:8000",)
    loadgen: Sequence[str] = ("127.0.0.1:9100",)
    prometheus: Sequence[str] = ("127.0.0.1:9090",)
    alertmanager: Sequence[str] = ("127.0.0.1:9093",)
    rule_files: Sequence[str] = field(default=("rules/*.yml",))
    scrape_interval: str = "15s"
    evaluation_interval: str = "15s"


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

    def job(name: str, targets: Sequence[str]) -> dict[str, Any]:
        return {"job_name": name, "static_configs": [{"targets": list(targets)}]}

    config: dict[str, Any] = {
        "global": {
            "scrape_interval": t.scrape_interval,
            "evaluation_interval": t.evaluation_interval,
            "external_labels": {"stack": "slo-stack"},
        },
        "rule_files": list(t.rule_files),
        "scrape_configs": [
            job(name, targets)
            for name, targets in ((SERVICE_JOB, t.service), (LOADGEN_JOB, t.loadgen), ("prometheus", t.prometheus))
            if targets
        ],
    }
    if t.alertmanager:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": list(t.alertmanager)}]}]}
    return config
