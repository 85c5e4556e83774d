"""deploy/k8s lists the generated objects it builds (kubectl's build itself is the e2e tier's)."""

from __future__ import annotations

import yaml

from generators.paths import K8S_GENERATED, ROOT


def test_every_generated_object_file_is_built_and_every_built_one_exists() -> None:
    """The PrometheusRule and the dashboards come from the generators: adding one is one resources line."""
    listed = yaml.safe_load((ROOT / "deploy" / "k8s" / "kustomization.yaml").read_text())["resources"]
    generated = {f"generated/{p.name}" for p in (ROOT / K8S_GENERATED).glob("*.yaml")}
    assert generated == {"generated/prometheusrule.yaml", "generated/dashboards.yaml"}
    assert generated <= set(listed)
    assert all((ROOT / "deploy" / "k8s" / name).exists() for name in listed)
