"""The rule generators: Sloth's groups and names, the exact budget, the policy's conditions, the operational
alerts, and the Kubernetes objects that carry them."""

from __future__ import annotations

import re
from typing import Any

from contract import metrics
from generators import k8s
from generators.paths import SPEC
from generators.prometheus import operational
from generators.prometheus.slo_rules import slo_groups
from slo.spec import Spec, load_spec
from slo.windows import Windows

LOADED = load_spec(SPEC)


def with_page_disabled(spec: Spec) -> Spec:
    data: dict[str, Any] = spec.model_dump()
    data["slos"][0]["alerting"]["page_alert"]["disable"] = True
    data["slos"][0]["alerting"]["annotations"] = {}
    return Spec.model_validate(data)


def test_three_groups_per_slo_in_sloths_order_and_names() -> None:
    names = [g["name"] for g in slo_groups(LOADED)]
    assert names[:3] == [
        "sloth-slo-sli-recordings-insurance-charges-requests-availability",
        "sloth-slo-meta-recordings-insurance-charges-requests-availability",
        "sloth-slo-alerts-insurance-charges-requests-availability",
    ]
    assert len(names) == 3 * len(LOADED.slos)


def test_budget_is_printed_exactly_in_the_meta_rules_and_the_alerts() -> None:
    sli, meta, alerts = slo_groups(LOADED)[:3]
    by_record = {r["record"]: r for r in meta["rules"]}
    assert by_record["slo:error_budget:ratio"]["expr"] == "vector(0.001)"
    assert by_record["slo:objective:ratio"]["expr"] == "vector(0.999)"
    assert by_record["slo:time_period:days"]["expr"] == "vector(30)"
    page, ticket = alerts["rules"]
    assert "(slo:sli_error:ratio_rate5m" in page["expr"] and "> (14.4 * 0.001))" in page["expr"]
    assert "> (6 * 0.001))" in page["expr"] and "> (3 * 0.001))" in ticket["expr"]
    assert page["labels"] == {"category": "availability", "severity": "critical", "sloth_severity": "page"}
    assert page["annotations"]["runbook_url"] == "prometheus/RUNBOOK.md#insurancechargesavailabilityslo"
    windows = [r["labels"].get("sloth_window") for r in sli["rules"]]
    assert windows == ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"]


def test_shrunk_rules_read_shorter_ranges_under_the_same_names() -> None:
    sli = slo_groups(LOADED, Windows(60))[0]["rules"]
    assert sli[0]["record"] == "slo:sli_error:ratio_rate5m" and "[5s]" in sli[0]["expr"]
    assert "[12h]" in sli[-1]["expr"]  # the 30-day period / 60


def test_a_disabled_alert_is_not_written_and_defaults_fill_the_annotations() -> None:
    groups = slo_groups(with_page_disabled(LOADED))
    (ticket,) = groups[2]["rules"]
    assert ticket["labels"]["sloth_severity"] == "ticket"
    assert ticket["annotations"]["summary"].startswith("insurance-charges requests-availability (99.9% of")
    assert ticket["annotations"]["title"] == (
        "(ticket) insurance-charges requests-availability SLO error budget burn rate is too fast."
    )


def test_operational_alerts_read_the_contracts_metrics_and_shrink() -> None:
    (group,) = operational.operational_groups()
    rules = {r["alert"]: r for r in group["rules"]}
    assert set(rules) == {a.name for a in operational.ALERTS}
    assert rules["ServiceSheddingLoad"]["expr"] == f'sum(rate({metrics.SHED.name}{{job="service"}}[5m])) > 0\n'
    assert rules["ServiceNotReady"]["for"] == "5m"
    shrunk = {r["alert"]: r for r in operational.operational_groups(Windows(60))[0]["rules"]}
    assert shrunk["ServiceNotReady"]["for"] == "5s" and "[5s]" in shrunk["LoadgenDroppingRequests"]["expr"]
    named = set(re.findall(r"\b([a-z_]+)\{", "".join(r["expr"] for r in rules.values()))) - {"up"}
    assert named <= {m.name for m in vars(metrics).values() if isinstance(m, metrics.Metric)}


def test_the_prometheus_rule_holds_every_group_and_the_config_maps_every_dashboard() -> None:
    rule = k8s.prometheus_rule(LOADED)
    assert [g["name"] for g in rule["spec"]["groups"]] == [
        *(g["name"] for g in slo_groups(LOADED)),
        "slo-stack-operational",
    ]
    maps = k8s.dashboard_config_maps({"a.json": "{}", "b.json": "[]"})
    assert [(m["metadata"]["name"], m["data"]) for m in maps] == [
        ("dashboard-a", {"a.json": "{}"}),
        ("dashboard-b", {"b.json": "[]"}),
    ]
    assert all(m["metadata"]["labels"] == {"grafana_dashboard": "1"} for m in maps)
    files = k8s.render(LOADED, {"a.json": "{}"})
    assert set(files) == {"prometheusrule.yaml", "dashboards.yaml"}
