"""docker-compose.yml passes Debian's `docker-compose config` (offline) and keeps the staging rules:
pinned images, a healthcheck on every service, start order by health, named volumes, Grafana locked,
every container locked down (read-only, no capabilities, no new privileges, limits), secrets from files."""

from __future__ import annotations

import os
import re
import subprocess
from typing import Any

import pytest
import yaml

from tests import prom
from tests.processes import ROOT


def compose_config(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"GRAFANA_ADMIN_PASSWORD", "SERVICE_ADMIN_TOKEN"}}
    return subprocess.run(
        [prom.binary("docker-compose"), "-f", "docker-compose.yml", "config"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    result = compose_config()
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_every_service_of_the_stack_is_there(config: dict[str, Any]) -> None:
    assert set(config["services"]) == {"service", "loadgen", "prometheus", "alertmanager", "grafana"}


def test_images_are_pinned(config: dict[str, Any]) -> None:
    for name, svc in config["services"].items():
        image, _, tag = svc["image"].rpartition(":")
        assert image and re.fullmatch(r"v?\d+(\.\d+)+", tag), (name, svc["image"])


def test_every_service_has_a_healthcheck_and_waits_for_healthy_dependencies(config: dict[str, Any]) -> None:
    for name, svc in config["services"].items():
        assert svc["healthcheck"]["test"][0] == "CMD", name
        for dependency in svc.get("depends_on", {}).values():
            assert dependency == {"condition": "service_healthy"}, name
    order = {name: set(svc.get("depends_on", {})) for name, svc in config["services"].items()}
    assert order["loadgen"] == {"service"}
    assert order["prometheus"] == {"service", "loadgen", "alertmanager"}
    assert order["grafana"] == {"prometheus"}


def test_prometheus_uses_the_rendered_config_with_exemplars_on(config: dict[str, Any]) -> None:
    prometheus = config["services"]["prometheus"]
    assert "--config.file=/etc/prometheus/generated/prometheus.compose.yml" in prometheus["command"]
    assert "--enable-feature=exemplar-storage" in prometheus["command"]
    assert any(v.endswith("/prometheus:/etc/prometheus:ro") for v in prometheus["volumes"])


def test_state_lives_in_named_volumes(config: dict[str, Any]) -> None:
    assert set(config["volumes"]) == {"prometheus-data", "alertmanager-data", "grafana-data"}
    assert "prometheus-data:/prometheus:rw" in config["services"]["prometheus"]["volumes"]


def test_inside_compose_the_loadgen_aims_at_the_service(config: dict[str, Any]) -> None:
    loadgen = config["services"]["loadgen"]
    assert loadgen["environment"]["LOADGEN_TARGET"] == "http://service:8000"
    assert loadgen["command"][-1] == "/scenarios/steady.yaml"


def test_grafana_takes_its_password_from_a_secret_file_and_refuses_anonymous(config: dict[str, Any]) -> None:
    grafana = config["services"]["grafana"]
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/run/secrets/grafana_admin_password"
    assert "GF_SECURITY_ADMIN_PASSWORD" not in grafana["environment"]
    assert grafana["environment"]["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert [s["source"] if isinstance(s, dict) else s for s in grafana["secrets"]] == ["grafana_admin_password"]
    volumes = grafana["volumes"]
    assert any(v.endswith("/grafana/provisioning:/etc/grafana/provisioning:ro") for v in volumes)
    assert any(v.endswith("/grafana/generated/dashboards:/etc/grafana/dashboards:ro") for v in volumes)


def test_the_fault_token_comes_from_a_secret_file_never_a_variable(config: dict[str, Any]) -> None:
    service = config["services"]["service"]
    assert service["environment"]["SERVICE_ADMIN_TOKEN_FILE"] == "/run/secrets/admin_token"
    assert "SERVICE_ADMIN_TOKEN" not in service["environment"]
    assert config["secrets"]["admin_token"]["file"].endswith("/secrets/admin_token")
    for svc in config["services"].values():
        secret_values = [k for k in svc.get("environment", {}) if re.search("PASSWORD$|TOKEN$|SECRET$", k)]
        assert secret_values == []


def test_every_container_is_locked_down_and_limited(config: dict[str, Any]) -> None:
    for name, svc in config["services"].items():
        assert svc["read_only"] is True, name
        assert svc["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in svc["security_opt"], name
        assert svc["mem_limit"] and float(svc["cpus"]) > 0 and svc["pids_limit"] > 0, name


def test_prometheus_lifecycle_api_is_off_and_it_scrapes_the_metrics_port(config: dict[str, Any]) -> None:
    assert not [flag for flag in config["services"]["prometheus"]["command"] if "lifecycle" in flag]
    service = config["services"]["service"]
    port = service["environment"]["SERVICE_METRICS_PORT"]
    rendered = yaml.safe_load((ROOT / "prometheus" / "generated" / "prometheus.compose.yml").read_text())
    (job,) = [j for j in rendered["scrape_configs"] if j["job_name"] == "service"]
    assert job["static_configs"][0]["targets"] == [f"service:{port}"]
    assert not [p for p in service["ports"] if str(p).endswith(f":{port}")]  # not published on the host
