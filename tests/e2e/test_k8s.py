"""deploy/k8s builds with `kubectl kustomize`, every core object validates against the Kubernetes schemas
(kubernetes-validate, offline, strict), and the objects fit together: selectors, probes, job names, the
loadgen's rate split. prometheus-operator objects have no offline schema: their references are checked."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests import prom
from tests.processes import ROOT

# The oldest Kubernetes still widely run and the newest the validator knows.
VERSIONS = ("1.29.0", kubernetes_validate.latest_version())


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    built = subprocess.run(
        [prom.binary("kubectl"), "kustomize", str(ROOT / "deploy" / "k8s")], capture_output=True, text=True, timeout=60
    )
    assert built.returncode == 0, built.stderr
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def env(deployment: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container(deployment)["env"]}


@pytest.mark.parametrize("version", VERSIONS)
def test_every_core_object_validates_against_the_kubernetes_schemas(
    objects: list[dict[str, Any]], version: str
) -> None:
    core = [o for o in objects if not o["apiVersion"].startswith("monitoring.coreos.com/")]
    assert {o["kind"] for o in core} == {
        "Namespace",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "ConfigMap",
    }
    for obj in core:
        kubernetes_validate.validate(obj, version, strict=True)  # raises on the first schema error


def test_everything_lands_in_one_namespace(objects: list[dict[str, Any]]) -> None:
    assert {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"} == {"slo-stack"}


def test_service_probes_resources_and_autoscaler(objects: list[dict[str, Any]]) -> None:
    deployment = find(objects, "Deployment", "insurance-charges")
    c = container(deployment)
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["resources"]["requests"]["cpu"] and c["resources"]["limits"]["memory"]
    assert env(deployment)["SERVICE_HOST"] == "0.0.0.0"
    hpa = find(objects, "HorizontalPodAutoscaler", "insurance-charges")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "insurance-charges"}
    assert hpa["spec"]["minReplicas"] >= 2


@pytest.mark.parametrize("name", ["insurance-charges", "loadgen"])
def test_each_service_selects_its_pods_on_a_named_port(objects: list[dict[str, Any]], name: str) -> None:
    service, deployment = find(objects, "Service", name), find(objects, "Deployment", name)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    port_names = {p["name"] for p in container(deployment)["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names


@pytest.mark.parametrize(("name", "job"), [("insurance-charges", "service"), ("loadgen", "loadgen")])
def test_each_service_monitor_scrapes_its_service_under_the_contract_job_name(
    objects: list[dict[str, Any]], name: str, job: str
) -> None:
    monitor, service = find(objects, "ServiceMonitor", name), find(objects, "Service", name)
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == job
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= {p["name"] for p in service["spec"]["ports"]}
    assert all(e["path"] == "/metrics" for e in monitor["spec"]["endpoints"])


def test_the_loadgen_replicas_split_the_total_rate(objects: list[dict[str, Any]]) -> None:
    loadgen = find(objects, "Deployment", "loadgen")
    assert loadgen["spec"]["replicas"] >= 2
    assert env(loadgen)["LOADGEN_RATE_SPLIT"] == str(loadgen["spec"]["replicas"])
    assert env(loadgen)["LOADGEN_TARGET"] == "http://insurance-charges:8000"


def test_prometheus_rules_pass_promtool(objects: list[dict[str, Any]], tmp_path: Path) -> None:
    (rule,) = [o for o in objects if o["kind"] == "PrometheusRule"]
    path = tmp_path / f"{rule['metadata']['name']}.yml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    checked = prom.promtool("check", "rules", path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_dashboard_config_maps_are_labelled_for_the_sidecar_and_hold_json(objects: list[dict[str, Any]]) -> None:
    maps = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"].get("labels", {}).get("grafana_dashboard")]
    assert len(maps) == len(list((ROOT / "grafana" / "generated" / "dashboards").glob("*.json")))
    for config_map in maps:
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        for name, text in config_map["data"].items():
            assert name.endswith(".json") and json.loads(text)["panels"], name
