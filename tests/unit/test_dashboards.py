"""The generated Grafana dashboards: up to date, valid, and complete (unit and description everywhere).

Their queries are proven on live data by tests/test_dashboards_live.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from grafana_foundation_sdk.models.dashboard import Dashboard

from generators.grafana.render import render
from generators.paths import DASHBOARDS, ROOT, SPEC
from slo.init import PRESETS, Objectives, write_spec
from slo.spec import load_spec
from slo.windows import POLICY
from stack.dashboard_check import queries

RENDERED = render(SPEC)


def test_checked_in_dashboards_are_up_to_date() -> None:
    on_disk = {p.name: p.read_text() for p in (ROOT / DASHBOARDS).glob("*.json")}
    assert on_disk == RENDERED, "run `python -m generators` and commit grafana/generated/dashboards/"


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_dashboard_is_valid_for_the_sdk_types(name: str) -> None:
    data = json.loads(RENDERED[name])
    model = Dashboard.from_json(data)
    assert json.loads(json.dumps(model.to_json(), default=lambda o: o.to_json())) is not None
    assert data["uid"] and data["title"] and data["schemaVersion"] >= 39
    ids = [p["id"] for p in data["panels"]]
    assert len(ids) == len(set(ids))


def _panels(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in data["panels"] if p["type"] != "row"]


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_every_panel_has_description_unit_datasource_and_queries(name: str) -> None:
    for panel in _panels(json.loads(RENDERED[name])):
        assert panel.get("description"), panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit") or panel["options"].get("yAxis", {}).get(
            "unit"
        )
        assert unit, f"{panel['title']}: no unit"
        assert panel["targets"] and all(t["expr"] for t in panel["targets"]), panel["title"]


def test_template_variables_are_substituted() -> None:
    for text in RENDERED.values():
        for query in queries(json.loads(text)):
            assert "$" not in query.expr, query


def test_slo_overview_has_a_row_per_objective_with_the_alert_thresholds() -> None:
    slos = load_spec(SPEC).slos
    data = json.loads(RENDERED["slo-overview.json"])
    rows = [p["title"] for p in data["panels"] if p["type"] == "row"]
    assert [r.split(":")[0] for r in rows] == [s.name for s in slos]
    burn = [p for p in data["panels"] if p["title"] == "Burn rate per window"]
    drawn = {s["value"] for s in burn[0]["fieldConfig"]["defaults"]["thresholds"]["steps"] if s["value"] is not None}
    assert drawn == {c.factor for conds in POLICY.values() for c in conds}
    exprs = [t["expr"] for p in data["panels"] if p["type"] != "row" for t in p["targets"]]
    assert sum("slo:sli_no_data:bool{" in e for e in exprs) == len(slos)  # "no data" is shown, not read as 100%
    assert sum("slo:sli_total_events:rate5m{" in e for e in exprs) == len(slos)


@pytest.mark.parametrize(
    ("name", "title"), [("service.json", "Latency percentiles"), ("load.json", "Latency: client vs server")]
)
def test_latency_panels_draw_the_specs_latency_thresholds(name: str, title: str) -> None:
    thresholds = sorted({t for s in load_spec(SPEC).slos if (t := s.latency_threshold_seconds) is not None})
    (panel,) = [p for p in json.loads(RENDERED[name])["panels"] if p["title"] == title]
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [s["value"] for s in steps if s["value"] is not None] == thresholds
    assert steps[-1]["color"] == "red"
    if name == "service.json":
        assert panel["description"].endswith("thresholds, 100 ms and 500 ms.")


def test_an_app_with_our_instrumentation_gets_the_service_dashboard_and_not_our_models(tmp_path: Path) -> None:
    """`instrument(app)` writes our request metrics for any app, but only our service writes the model's: a model
    dashboard for another app would be a page of empty panels."""
    path = tmp_path / "slo.yaml"
    write_spec(PRESETS["service"], "my-model", ["/predict"], Objectives(), path)
    assert {"service.json", "model.json"} <= set(RENDERED)  # ours, on the contract's routes
    rendered = render(path)
    assert set(rendered) == {"slo-overview.json", "service.json", "load.json"}
    assert not [q.expr for text in rendered.values() for q in queries(json.loads(text)) if "model_" in q.expr]
