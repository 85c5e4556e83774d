"""deploy/k8s builds with `kubectl kustomize`, every core object validates against the Kubernetes schemas
(kubernetes-validate, offline, strict), and the objects fit together: selectors, probes, job names, the
loadgen's rate split. prometheus-operator objects have no offline schema: their references are checked. The
rendered manifests are also read for the hardening: every container's securityContext and limits, the
namespace's Pod Security level, and the NetworkPolicies' selectors and ports against the Services they protect."""

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
        "NetworkPolicy",
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


def deployments(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = [o for o in objects if o["kind"] == "Deployment"]
    assert {d["metadata"]["name"] for d in found} == {"insurance-charges", "loadgen"}
    return found


def test_the_namespace_enforces_the_restricted_pod_security_level(objects: list[dict[str, Any]]) -> None:
    labels = find(objects, "Namespace", "slo-stack")["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"


def test_every_container_is_locked_down_and_limited(objects: list[dict[str, Any]]) -> None:
    for deployment in deployments(objects):
        name = deployment["metadata"]["name"]
        pod = deployment["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for c in pod["containers"] + pod.get("initContainers", []):
            security = c["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["capabilities"] == {"drop": ["ALL"]}, name
            assert c["resources"]["limits"]["cpu"] and c["resources"]["limits"]["memory"], name
            assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"], name
        for volume in pod.get("volumes", []):
            if "emptyDir" in volume:
                assert volume["emptyDir"].get("sizeLimit"), (name, volume["name"])


def test_the_service_drains_before_it_stops(objects: list[dict[str, Any]]) -> None:
    deployment = find(objects, "Deployment", "insurance-charges")
    command = container(deployment)["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    assert int(command[1]) < deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]


def test_the_service_serves_metrics_on_the_port_prometheus_scrapes(objects: list[dict[str, Any]]) -> None:
    deployment = find(objects, "Deployment", "insurance-charges")
    ports = {p["name"]: p["containerPort"] for p in container(deployment)["ports"]}
    assert env(deployment)["SERVICE_METRICS_PORT"] == str(ports["metrics"])
    assert int(env(deployment)["SERVICE_PORT"]) == ports["http"]
    monitor = find(objects, "ServiceMonitor", "insurance-charges")
    service = find(objects, "Service", "insurance-charges")
    (endpoint,) = monitor["spec"]["endpoints"]
    (scraped,) = [p for p in service["spec"]["ports"] if p["name"] == endpoint["port"]]
    assert scraped["targetPort"] == "metrics"


def policy_rules(policy: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Port name -> the peers allowed to reach it."""
    rules: dict[str, list[dict[str, Any]]] = {}
    for rule in policy["spec"]["ingress"]:
        assert rule.get("from"), f"{policy['metadata']['name']}: a rule open to everyone"
        for port in rule["ports"]:
            rules.setdefault(port["port"], []).extend(rule["from"])
    return rules


PROMETHEUS_PEER = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
}


def test_ingress_is_denied_unless_a_policy_allows_it(objects: list[dict[str, Any]]) -> None:
    deny = find(objects, "NetworkPolicy", "default-deny-ingress")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("insurance-charges", {"http": ["loadgen", "ingress"], "metrics": ["prometheus"]}),
        ("loadgen", {"metrics": ["prometheus"]}),
    ],
)
def test_each_network_policy_protects_its_service_ports_for_the_right_peers(
    objects: list[dict[str, Any]], name: str, allowed: dict[str, list[str]]
) -> None:
    policy, service, deployment = (find(objects, kind, name) for kind in ("NetworkPolicy", "Service", "Deployment"))
    # The policy selects exactly the pods the Service sends to.
    assert policy["spec"]["podSelector"]["matchLabels"] == service["spec"]["selector"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    rules = policy_rules(policy)
    # Every Service port is covered, by the container port name it targets; nothing else is opened.
    assert set(rules) == {p["targetPort"] for p in service["spec"]["ports"]} == set(allowed)
    loadgen_pods = find(objects, "Deployment", "loadgen")["spec"]["template"]["metadata"]["labels"]
    for port, peers in rules.items():
        kinds = []
        for peer in peers:
            if peer == PROMETHEUS_PEER:
                kinds.append("prometheus")
            elif set(peer) == {"podSelector"} and peer["podSelector"]["matchLabels"].items() <= loadgen_pods.items():
                kinds.append("loadgen")
            elif set(peer) == {"namespaceSelector"}:
                assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "ingress-nginx"}
                kinds.append("ingress")
            else:
                raise AssertionError(f"{name}/{port}: unexpected peer {peer}")
        assert sorted(kinds) == sorted(allowed[port]), (name, port)


def test_the_loadgen_reaches_the_api_port_the_policy_opens(objects: list[dict[str, Any]]) -> None:
    target = env(find(objects, "Deployment", "loadgen"))["LOADGEN_TARGET"]
    port = int(target.rsplit(":", 1)[1])
    service = find(objects, "Service", "insurance-charges")
    (api,) = [p for p in service["spec"]["ports"] if p["port"] == port]
    assert "loadgen" in [
        "loadgen" for peer in policy_rules(find(objects, "NetworkPolicy", "insurance-charges"))[api["targetPort"]]
        if "podSelector" in peer and set(peer) == {"podSelector"}
    ]  # fmt: skip
