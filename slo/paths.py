"""Where the spec lives and where its generated files go, relative to the repository."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "prometheus" / "slo.yaml"
PROMETHEUS = "prometheus"
DASHBOARDS = "grafana/dashboards"
K8S_GENERATED = "deploy/k8s/generated"
