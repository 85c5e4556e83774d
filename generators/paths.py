"""Where the hand-written spec lives and where its generated files go, relative to the repository.

Every generated folder is named `generated` and holds only what `python -m generators` writes.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "prometheus" / "slo.yaml"
PROMETHEUS = "prometheus/generated"
GRAFANA = "grafana/generated"
DASHBOARDS = f"{GRAFANA}/dashboards"
K8S_GENERATED = "deploy/k8s/generated"
GENERATED_FOLDERS = (PROMETHEUS, GRAFANA, K8S_GENERATED)
