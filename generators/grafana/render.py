"""The dashboards as JSON text, by file name (written by `python -m generators`)."""

from __future__ import annotations

import json
from pathlib import Path

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from generators.grafana import load, model, service, slo_overview
from slo.reads import reads_our_service, serves_our_model
from slo.spec import load_spec


def render(spec_path: Path) -> dict[str, str]:
    """File name -> JSON text of every dashboard: the SLO overview and the synthetic load's for any spec (the load
    generator runs against any target); the service's for a spec that reads our request metrics (any app that
    calls `instrument(app)` writes them); the model's for a spec about our prediction service itself."""
    spec = load_spec(spec_path)
    dashboards = {"slo-overview.json": slo_overview.build(spec)}
    if reads_our_service(spec):
        dashboards["service.json"] = service.build(spec)
    if serves_our_model(spec):
        dashboards["model.json"] = model.build()
    dashboards["load.json"] = load.build(spec)
    return {name: _to_json(d) for name, d in dashboards.items()}


def _to_json(dashboard: Dashboard) -> str:
    data = json.loads(json.dumps(dashboard.build(), cls=JSONEncoder))
    for number, panel in enumerate(data["panels"], start=1):  # stable ids: Grafana links panels by id
        panel["id"] = number
    return json.dumps(data, indent=2, sort_keys=True) + "\n"
