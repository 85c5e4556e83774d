"""deploy/k8s-target (the stack on Kubernetes for a model service it does not run, a kustomize overlay of
deploy/k8s) builds with `kubectl kustomize`, its core objects validate against the Kubernetes schemas (offline,
strict), nothing of the service is left, and the loadgen and the target's ServiceMonitor fit together: the
scenario mounted where the loadgen reads it, the target's metrics scraped under the contract's job name."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from contract.metrics import SERVICE_JOB
from loadgen.scenario import load as load_scenario
from tests import prom
from tests.e2e.test_k8s import VERSIONS, container, env, find
from tests.processes import ROOT

OVERLAY = ROOT / "deploy" / "k8s-target"


def build(folder: Path) -> list[dict[str, Any]]:
    built = subprocess.run(
        [prom.binary("kubectl"), "kustomize", str(folder)], capture_output=True, text=True, timeout=60
    )
    assert built.returncode == 0, built.stderr
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return build(OVERLAY)


@pytest.mark.parametrize("version", VERSIONS)
def test_every_core_object_validates_against_the_kubernetes_schemas(
    objects: list[dict[str, Any]], version: str
) -> None:
    core = [o for o in objects if not o["apiVersion"].startswith("monitoring.coreos.com/")]
    assert {o["kind"] for o in core} == {"Namespace", "Deployment", "Service", "ConfigMap", "NetworkPolicy"}
    for obj in core:
        kubernetes_validate.validate(obj, version, strict=True)


def test_nothing_of_the_service_is_left_and_the_rest_of_the_base_is(objects: list[dict[str, Any]]) -> None:
    base = build(ROOT / "deploy" / "k8s")
    gone = {(o["kind"], o["metadata"]["name"]) for o in base} - {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert gone == {
        (kind, "insurance-charges")
        for kind in (
            "Deployment",
            "Service",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
            "ServiceMonitor",
            "NetworkPolicy",
        )
    }
    assert {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"} == {"slo-stack"}


def test_the_loadgen_plays_the_mounted_scenario_against_the_target(objects: list[dict[str, Any]]) -> None:
    loadgen = find(objects, "Deployment", "loadgen")
    c = container(loadgen)
    assert (
        env(loadgen)["LOADGEN_TARGET"].startswith("http://")
        and "insurance-charges" not in env(loadgen)["LOADGEN_TARGET"]
    )
    assert env(loadgen)["LOADGEN_RATE_SPLIT"] == str(loadgen["spec"]["replicas"])  # the base's split still holds
    scenario = Path(c["command"][c["command"].index("--scenario") + 1])
    (mount,) = [m for m in c["volumeMounts"] if scenario.is_relative_to(m["mountPath"])]
    assert mount["readOnly"] is True
    (volume,) = [v for v in loadgen["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"]]
    config_map = find(objects, "ConfigMap", volume["configMap"]["name"])
    assert set(config_map["data"]) == {scenario.name}
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert load_scenario(OVERLAY / scenario.name).profile  # a scenario the loadgen reads


def test_the_targets_metrics_are_scraped_under_the_service_job(objects: list[dict[str, Any]]) -> None:
    monitor = find(objects, "ServiceMonitor", "target")
    assert monitor["spec"]["namespaceSelector"] == {"any": True}
    assert monitor["spec"]["selector"]["matchLabels"] == {"slo-stack.io/target": "true"}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert {"action": "replace", "targetLabel": "job", "replacement": SERVICE_JOB} in endpoint["relabelings"]
