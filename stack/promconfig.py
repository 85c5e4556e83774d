"""One Prometheus config, rendered for each place it runs: no hand-kept copy can drift.

prometheus/prometheus.yml (written for a local run) is the single source. The compose config and the
local stack's config are that file with only the addresses swapped: the scrape target of each job named
in the contract (`service`, `loadgen`, `prometheus`) and the Alertmanager target. Rule files are made
absolute for the local stack (its config lives under run/); in compose they keep their relative paths
because the whole prometheus/ folder is mounted beside the rendered file.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

COMPOSE_CONFIG = Path("prometheus/prometheus.compose.yml")


@dataclass(frozen=True)
class Addresses:
    """host:port of each scrape job and of Alertmanager, where Prometheus runs."""

    jobs: dict[str, str]
    alertmanager: str


COMPOSE = Addresses(
    jobs={"service": "service:8000", "loadgen": "loadgen:9100", "prometheus": "localhost:9090"},
    alertmanager="alertmanager:9093",
)


def _with_targets(static_configs: list[dict[str, Any]] | None, target: str) -> list[dict[str, Any]]:
    """One static config aimed at `target`, keeping the labels the source gave its first one."""
    first = dict((static_configs or [{}])[0])
    first["targets"] = [target]
    return [first]


def render(base: dict[str, Any], addresses: Addresses, rules_dir: Path | None = None) -> dict[str, Any]:
    """The base config with its addresses swapped; rule_files made absolute against rules_dir if given."""
    config = copy.deepcopy(base)  # the base stays untouched
    for job in config.get("scrape_configs") or []:
        target = addresses.jobs.get(job.get("job_name", ""))
        if target is not None:
            job["static_configs"] = _with_targets(job.get("static_configs"), target)
    alerting = config.setdefault("alerting", {})
    managers = alerting.get("alertmanagers") or [{}]
    for manager in managers:
        manager["static_configs"] = _with_targets(manager.get("static_configs"), addresses.alertmanager)
    alerting["alertmanagers"] = managers
    if rules_dir is not None:
        config["rule_files"] = [
            str(path if Path(path).is_absolute() else rules_dir / path) for path in config.get("rule_files") or []
        ]
    return config


def dump(config: dict[str, Any], source: Path, how: str) -> str:
    header = f"# Generated from {source} by `{how}`: edit the source, then run that again.\n"
    return header + yaml.safe_dump(config, sort_keys=False)


def compose_text(root: Path, source: Path) -> str:
    """What prometheus/prometheus.compose.yml must hold for the source config (a path relative to root)."""
    base = yaml.safe_load((root / source).read_text())
    return dump(render(base, COMPOSE), source, "python -m stack prometheus-config --write")
