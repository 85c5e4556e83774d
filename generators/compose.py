"""docker-compose.target.yml: the compose stack for a service it does not run, derived from docker-compose.yml.

An override file cannot take a service out of a compose file, nor the loadgen's and Prometheus's dependency on
it (Debian's docker-compose 1.29 has no `!reset`), and a profile cannot switch a default service off: so the
target's file is written from the stack's own, every container's lock-down, limit and health check kept as
they are. What changes: no `service` container (nor its secret), nothing waits for it; the loadgen plays the
target's scenario against TARGET_URL; Prometheus reads prometheus.compose-target.yml, which loads the target's
rules and scrapes its metrics from the folder SLO_TARGET_DIR (written by `python -m stack target-dir`).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from generators.prometheus.config import COMPOSE_TARGET_DIR
from generators.yamlout import dump

SOURCE = "docker-compose.yml"
TARGET_FILE = "docker-compose.target.yml"
#: The compose service that runs our own prediction service.
SERVICE = "service"
TARGET_URL = "${TARGET_URL:?set TARGET_URL to the target's base URL, as the containers reach it}"
TARGET_DIR = "${SLO_TARGET_DIR:?set SLO_TARGET_DIR to the folder python -m stack target-dir wrote}"
PROMETHEUS_CONFIG = "--config.file=/etc/prometheus/generated/prometheus.compose-target.yml"

USAGE = f"""\
# The compose stack for a model service it does not run: the loadgen, Prometheus, Alertmanager and Grafana of
# {SOURCE}, written from it (so edit that file, then run `python -m generators`), without the service.
#   .venv/bin/python -m stack target-dir --spec my-slos.yaml --scenario my-scenario.yaml \\
#     --metrics http://model:8080/metrics --out target/       # the target's rules, scenario, metrics
#   TARGET_URL=http://model:8080 SLO_TARGET_DIR=./target docker compose -f {TARGET_FILE} up -d
# TARGET_URL and the metrics URL are as the containers reach them (a service on a shared network, or
# host.docker.internal). Grafana's secret as in {SOURCE}.
"""


def target_compose(base: dict[str, Any]) -> dict[str, Any]:
    """The stack of `base` (docker-compose.yml, loaded) around an external target."""
    data = copy.deepcopy({k: v for k, v in base.items() if not k.startswith("x-")})  # anchors are merged in
    services = data["services"]
    own_secrets = set(services.pop(SERVICE).get("secrets", []))
    for svc in services.values():
        depends = svc.get("depends_on", {})
        depends.pop(SERVICE, None)
        if not depends:
            svc.pop("depends_on", None)
        own_secrets -= set(svc.get("secrets", []))
    for name in own_secrets:
        data["secrets"].pop(name)

    loadgen = services["loadgen"]
    loadgen["environment"]["LOADGEN_TARGET"] = TARGET_URL
    command = loadgen["command"]
    command[command.index("--scenario") + 1] = f"{COMPOSE_TARGET_DIR}/scenario.yaml"
    loadgen["volumes"] = [f"{TARGET_DIR}:{COMPOSE_TARGET_DIR}:ro"]

    prometheus = services["prometheus"]
    prometheus["command"] = [
        PROMETHEUS_CONFIG if flag.startswith("--config.file=") else flag for flag in prometheus["command"]
    ]
    prometheus["volumes"] = [*prometheus["volumes"], f"{TARGET_DIR}:{COMPOSE_TARGET_DIR}:ro"]
    return data


def render(root: Path) -> str:
    """docker-compose.target.yml's text, from the repository's docker-compose.yml."""
    base = yaml.safe_load((root / SOURCE).read_text())
    header, body = dump(target_compose(base), f"{SOURCE} (generators/compose.py)").split("\n", 1)
    return f"{header}\n{USAGE}\n{body}"
