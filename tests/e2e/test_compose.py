"""docker-compose.yml passes Debian's `docker-compose config` (offline) and keeps the staging rules:
pinned images, a healthcheck on every service, start order by health, named volumes, Grafana locked,
every container locked down (read-only, no capabilities, no new privileges, limits), secrets from files.
docker-compose.target.yml (the stack for a service it does not run, generated from it) passes too: no service
container and nothing waiting for one, the loadgen aimed at TARGET_URL, Prometheus reading the target's folder,
every container locked down as in the stack's own file."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from generators.prometheus.config import COMPOSE_TARGET_DIR
from stack.__main__ import main as stack_main
from tests import prom
from tests.processes import ROOT

TARGET_ENV = {"TARGET_URL": "http://model:8080", "SLO_TARGET_DIR": "./target"}


def compose_config(file: str = "docker-compose.yml", **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if k not in {"GRAFANA_ADMIN_PASSWORD", "SERVICE_ADMIN_TOKEN", *TARGET_ENV}
    }
    return subprocess.run(
        [prom.binary("docker-compose"), "-f", file, "config"],
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


@pytest.fixture(scope="module")
def target_config() -> dict[str, Any]:
    result = compose_config("docker-compose.target.yml", **TARGET_ENV)
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


@pytest.mark.parametrize("which", ["config", "target_config"])
def test_every_container_is_locked_down_and_limited(which: str, request: pytest.FixtureRequest) -> None:
    for name, svc in request.getfixturevalue(which)["services"].items():
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


def test_the_target_stack_has_no_service_and_nothing_waits_for_one(
    config: dict[str, Any], target_config: dict[str, Any]
) -> None:
    assert set(target_config["services"]) == {"loadgen", "prometheus", "alertmanager", "grafana"}
    for name, svc in target_config["services"].items():
        assert "service" not in svc.get("depends_on", {}), name
        assert svc["healthcheck"] == config["services"][name]["healthcheck"], name
        assert svc["image"] == config["services"][name]["image"], name
    assert set(target_config["services"]["prometheus"]["depends_on"]) == {"loadgen", "alertmanager"}
    assert set(target_config["secrets"]) == {"grafana_admin_password"}  # the fault token was the service's


def test_the_target_stack_loads_the_target_with_its_scenario_and_reads_its_folder(
    target_config: dict[str, Any],
) -> None:
    loadgen, prometheus = target_config["services"]["loadgen"], target_config["services"]["prometheus"]
    assert loadgen["environment"]["LOADGEN_TARGET"] == "http://model:8080"
    assert loadgen["command"][-2:] == ["--scenario", "/etc/slo-target/scenario.yaml"]
    assert [v for v in loadgen["volumes"] if v.endswith("/target:/etc/slo-target:ro")]
    assert "--config.file=/etc/prometheus/generated/prometheus.compose-target.yml" in prometheus["command"]
    assert [v for v in prometheus["volumes"] if v.endswith("/target:/etc/slo-target:ro")]
    rendered = yaml.safe_load((ROOT / "prometheus" / "generated" / "prometheus.compose-target.yml").read_text())
    assert rendered["rule_files"] == ["/etc/slo-target/rules/*.yml"]
    (job,) = [j for j in rendered["scrape_configs"] if j["job_name"] == "service"]
    assert job["file_sd_configs"] == [{"files": ["/etc/slo-target/metrics.yml"]}]


@pytest.mark.parametrize("missing", sorted(TARGET_ENV))
def test_the_target_stack_refuses_to_start_without_its_target(missing: str) -> None:
    env = {k: v for k, v in TARGET_ENV.items() if k != missing}
    result = compose_config("docker-compose.target.yml", **env)
    assert result.returncode != 0 and missing in result.stderr


def test_the_folder_stack_target_dir_writes_is_one_prometheus_loads(tmp_path: Path) -> None:
    """`python -m stack target-dir`'s rules and metrics list pass promtool with the target stack's config (its
    mount point moved to the folder written)."""
    spec, scenario = (
        ROOT / "tests" / "unit" / "stack" / "data" / "target-service.yaml",
        ROOT / "loadgen" / "scenarios" / "steady.yaml",
    )
    args = ["target-dir", "--spec", str(spec), "--scenario", str(scenario), "--out", str(tmp_path / "target")]
    assert stack_main([*args, "--metrics", "https://model:8443/admin/metrics?format=prom"]) == 0
    config = (ROOT / "prometheus" / "generated" / "prometheus.compose-target.yml").read_text()
    (tmp_path / "prometheus.yml").write_text(config.replace(COMPOSE_TARGET_DIR, str(tmp_path / "target")))
    checked = prom.promtool("check", "config", tmp_path / "prometheus.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 2 rule files found" in checked.stdout, checked.stdout  # the spec's and the operational
    listed = yaml.safe_load((tmp_path / "target" / "metrics.yml").read_text())
    assert listed == [
        {
            "targets": ["model:8443"],
            "labels": {"__scheme__": "https", "__metrics_path__": "/admin/metrics", "__param_format": "prom"},
        }
    ]
    assert (tmp_path / "target" / "scenario.yaml").read_text() == scenario.read_text()
