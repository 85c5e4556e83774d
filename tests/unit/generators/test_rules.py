"""The rule generators: Sloth's groups and names, the exact budget, the policy's conditions, the operational
alerts, and the Kubernetes objects that carry them."""

from __future__ import annotations

import re
from typing import Any

from contract import metrics
from contract.routes import prediction_routes_regex
from generators import k8s
from generators.paths import SPEC
from generators.prometheus import operational
from generators.prometheus.promtool_tests import slo_test_files
from generators.prometheus.slo_rules import slo_groups
from slo.spec import Spec, load_spec
from slo.windows import Windows

LOADED = load_spec(SPEC)


def with_page_disabled(spec: Spec) -> Spec:
    data: dict[str, Any] = spec.model_dump()
    data["slos"][0]["alerting"]["page_alert"]["disable"] = True
    data["slos"][0]["alerting"]["annotations"] = {}
    return Spec.model_validate(data)


def test_sloths_three_groups_per_slo_in_its_order_then_the_absent_alert() -> None:
    names = [g["name"] for g in slo_groups(LOADED)]
    assert names[:4] == [
        "sloth-slo-sli-recordings-insurance-charges-requests-availability",
        "sloth-slo-meta-recordings-insurance-charges-requests-availability",
        "sloth-slo-alerts-insurance-charges-requests-availability",
        "slo-stack-absent-insurance-charges-requests-availability",
    ]
    assert len(names) == 4 * len(LOADED.slos)


def test_budget_is_printed_exactly_in_the_meta_rules_and_the_alerts() -> None:
    sli, meta, alerts = slo_groups(LOADED)[:3]
    by_record = {r["record"]: r for r in meta["rules"]}
    assert by_record["slo:error_budget:ratio"]["expr"] == "vector(0.001)"
    assert by_record["slo:objective:ratio"]["expr"] == "vector(0.999)"
    assert by_record["slo:time_period:days"]["expr"] == "vector(30)"
    page, ticket = alerts["rules"]
    assert (
        "max(slo:sli_error:ratio_rate5m" in page["expr"] and "> (14.4 * 0.001)) without (sloth_window)" in page["expr"]
    )
    assert "> (6 * 0.001)) without" in page["expr"] and "> (3 * 0.001)) without" in ticket["expr"]
    assert "ignoring" not in page["expr"] + ticket["expr"]  # the pre-v0.11 form, one series per window
    assert page["labels"] == {"category": "availability", "severity": "critical", "sloth_severity": "page"}
    assert page["annotations"]["runbook_url"] == "prometheus/RUNBOOK.md#insurancechargesavailabilityslo"
    assert page["annotations"]["windows"].startswith("error ratio over 14.4x the budget over 1h and 5m, or 6x")
    windows = {
        r["record"]: r["labels"]["sloth_window"] for r in sli["rules"] if r["record"].startswith("slo:sli_error:")
    }
    assert list(windows.values()) == ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"]


def test_the_period_sli_sums_requests_and_the_guard_reads_each_short_window() -> None:
    sli, _, alerts = slo_groups(LOADED)[:3]
    by_record = {r["record"]: r for r in sli["rules"]}
    period = by_record["slo:sli_error:ratio_rate30d"]["expr"]
    assert period.startswith("sum_over_time(slo:sli_error_events:rate5m{") and "[30d])\n/\n(sum_over_time(" in period
    assert period.rstrip().endswith("[30d]) > 0)")  # no request in 30 days: no sample, never NaN
    assert [r for r in by_record if r.startswith("slo:sli_total_events:")] == [
        f"slo:sli_total_events:rate{w}" for w in ("5m", "30m", "2h", "6h")
    ]
    records = list(by_record)
    assert records.index("slo:sli_total_events:rate5m") < records.index("slo:sli_error_events:rate5m")
    assert records.index("slo:sli_error_events:rate5m") < records.index("slo:sli_error:ratio_rate30d")
    assert by_record["slo:sli_no_data:bool"]["expr"].endswith("or on()\nvector(1)\n")
    page = alerts["rules"][0]["expr"]
    assert "max(slo:sli_total_events:rate5m{" in page and "* 300 >= 100) without (sloth_window)" in page
    assert "* 1800 >= 100) without (sloth_window)" in page


def test_min_events_comes_from_the_spec_and_zero_drops_the_guard() -> None:
    data: dict[str, Any] = LOADED.model_dump(by_alias=True)
    data["slos"][0]["x-min-events"] = 0
    data["slos"][1]["x-min-events"] = 7
    spec = Spec.model_validate(data)
    groups = slo_groups(spec)
    assert "sli_total_events" not in groups[2]["rules"][0]["expr"]
    assert "* 7200 >= 7) without" in groups[6]["rules"][1]["expr"]  # the ticket: 2h and 6h short windows


def test_shrunk_rules_read_shorter_ranges_under_the_same_names() -> None:
    sli = {r["record"]: r for r in slo_groups(LOADED, Windows(60))[0]["rules"]}
    assert "[5s]" in sli["slo:sli_error:ratio_rate5m"]["expr"]
    assert "[12h]" in sli["slo:sli_error:ratio_rate30d"]["expr"]  # the 30-day period / 60
    alerts = slo_groups(LOADED, Windows(60))[2]["rules"]
    assert "* 5 >= 100" in alerts[0]["expr"]  # the guard counts the shrunk window's requests


def test_an_alert_keeps_firing_through_a_dip_page_2m_ticket_30m_shrunk_with_the_windows() -> None:
    kept = {a["labels"]["sloth_severity"]: a["keep_firing_for"] for a in slo_groups(LOADED)[2]["rules"]}
    assert kept == {"page": "2m", "ticket": "30m"}
    shrunk = {a["labels"]["sloth_severity"]: a["keep_firing_for"] for a in slo_groups(LOADED, Windows(60))[2]["rules"]}
    assert shrunk == {"page": "2s", "ticket": "30s"}


def test_a_disabled_alert_is_not_written_and_defaults_fill_the_annotations() -> None:
    groups = slo_groups(with_page_disabled(LOADED))
    (ticket,) = groups[2]["rules"]
    files = slo_test_files(with_page_disabled(LOADED), with_page_disabled(LOADED).slos[0], "r.yml")
    assert files["page"][1] == ["page: the alert is disabled in the spec"] and not files["page"][0]["tests"]
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
    # Rate windows shrink; `for` waits out real time (a service starting): a shrunk one pages at every start.
    assert shrunk["ServiceTargetDown"]["for"] == "2m" and "[5s]" in shrunk["LoadgenDroppingRequests"]["expr"]
    named = set(re.findall(r"\b([a-z_]+)\{", "".join(r["expr"] for r in rules.values()))) - {"up"}
    named = {re.sub(r"_(bucket|count)$", "", n) for n in named}  # a histogram's series
    assert named <= {m.name for m in vars(metrics).values() if isinstance(m, metrics.Metric)}


def test_the_disagreement_alert_joins_both_views_on_the_route_and_its_guard_shrinks() -> None:
    rule = {r["alert"]: r for r in operational.operational_groups()[0]["rules"]}["RequestsWaitBeforeService"]
    expr = rule["expr"]
    assert rule["for"] == "10m" and expr.count("on(route)") == 2 and "sum by (route, le)" in expr
    assert metrics.LOADGEN_REQUEST_DURATION.labels == ("route",) and "route" in metrics.REQUEST_DURATION.labels
    assert f'route=~"{prediction_routes_regex()}"' in expr and 'status_code!~"5.."' in expr
    assert "* 300 >= 100" in expr and "> 0.05" in expr and "2 * histogram_quantile(0.99" in expr
    shrunk = {r["alert"]: r for r in operational.operational_groups(Windows(60))[0]["rules"]}
    assert (
        "* 5 >= 100" in shrunk["RequestsWaitBeforeService"]["expr"]
        and "[5s]" in shrunk["RequestsWaitBeforeService"]["expr"]
    )


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


def test_both_alerts_disabled_writes_no_alert_group_but_keeps_the_absent_alert() -> None:
    data: dict[str, Any] = LOADED.model_dump()
    for key in ("page_alert", "ticket_alert"):
        data["slos"][0]["alerting"][key]["disable"] = True
    spec = Spec.model_validate(data)
    names = [g["name"] for g in slo_groups(spec)]
    assert "sloth-slo-alerts-insurance-charges-requests-availability" not in names
    assert "slo-stack-absent-insurance-charges-requests-availability" in names
    files = slo_test_files(spec, spec.slos[0], "r.yml")
    assert not files["page"][0]["tests"] and files["records"][0]["tests"]


def test_the_absent_alert_reads_the_total_selectors_and_the_good_buckets_not_the_errors() -> None:
    groups = slo_groups(LOADED)
    (absent,) = groups[3]["rules"]
    assert absent["alert"] == "SLOMetricAbsent" and absent["for"] == "5m"
    assert absent["expr"].count("absent_over_time(") == 1 and "[10m])" in absent["expr"]
    assert "5.." not in absent["expr"]  # a 5xx series does not exist before the first 5xx
    (latency,) = groups[7]["rules"]
    assert latency["expr"].count("absent_over_time(") == 2 and 'le="0.5",status_code!~"5.."}[10m]' in latency["expr"]
    shrunk = slo_groups(LOADED, Windows(60))[3]["rules"][0]
    assert shrunk["for"] == "5m" and "[10m]" in shrunk["expr"]  # real restarts take real time


def test_a_raw_sli_keeps_the_time_average_of_its_5m_ratios_that_are_numbers() -> None:
    data: dict[str, Any] = LOADED.model_dump()
    data["slos"] = [
        {
            **data["slos"][0],
            "sli": {"raw": {"error_ratio_query": "1 - avg_over_time(wifi_up{job='router'}[{{.window}}])"}},
        }
    ]
    spec = Spec.model_validate(data)
    sli, _, alerts, absent = slo_groups(spec)
    by_record = {r["record"]: r for r in sli["rules"]}
    assert not [r for r in by_record if "_events:" in r]  # no event counts to weigh by
    assert by_record["slo:sli_error:ratio_rate5m"]["expr"].rstrip().endswith(">= 0")  # NaN is no sample
    assert "count_over_time(slo:sli_error:ratio_rate5m" in by_record["slo:sli_error:ratio_rate30d"]["expr"]
    assert by_record["slo:sli_no_data:bool"]["expr"].startswith("0 * slo:sli_error:ratio_rate5m")
    assert ">= 100" not in alerts["rules"][0]["expr"]  # no guard without counts
    assert "requests in its short window" not in alerts["rules"][0]["annotations"]["windows"]
    assert 'absent_over_time(wifi_up{job="router"}[10m])' in absent["rules"][0]["expr"]
