"""The SLO spec model, the burn-rate policy and the thresholds derived from the spec."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from contract import buckets, metrics
from contract.durations import parse_duration
from contract.metrics import le_text
from contract.routes import prediction_routes_regex
from slo.selectors import Matcher, Selector, selectors
from slo.spec import ROUTED_SERIES, SpecError, check_contract_routes, load_spec, load_specs
from slo.thresholds import k6_thresholds
from slo.windows import DAY, HOUR, MINUTE, POLICY, SLI_WINDOWS, BurnCondition, Windows, prom_duration
from tests.processes import ROOT

SPEC = ROOT / "prometheus" / "slo.yaml"


def spec_with(tmp_path: Path, old: str, new: str) -> Path:
    """The shipped spec with `old` replaced by `new` in the latency-500ms SLI's error query."""
    data = yaml.safe_load(SPEC.read_text())
    events = data["slos"][1]["sli"]["events"]
    assert old in events["error_query"]
    events["error_query"] = events["error_query"].replace(old, new)
    path = tmp_path / "slo.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_default_spec_holds_the_three_objectives() -> None:
    spec = load_spec(SPEC)
    assert spec.service == "insurance-charges"
    got = {s.name: (s.objective, s.latency_threshold_seconds) for s in spec.slos}
    assert got == {
        "requests-availability": (99.9, None),
        "requests-latency-500ms": (90, 0.5),
        "requests-latency-100ms": (99, 0.1),
        # the same objectives seen from the client (the load generator's metrics)
        "synthetic-availability": (99.9, None),
        "synthetic-latency-500ms": (90, 0.5),
        "synthetic-latency-100ms": (99, 0.1),
    }
    assert str(spec.slos[0].error_budget) == "0.001"


def test_k6_thresholds_come_from_the_spec() -> None:
    assert k6_thresholds(SPEC) == ["error_rate<0.001", "p(90)<500ms", "p(99)<100ms"]


def test_a_latency_threshold_must_be_a_bucket_boundary(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r'le="0.42" is not a bucket boundary'):
        load_spec(spec_with(tmp_path, 'le="0.5"', 'le="0.42"'))


def test_a_latency_threshold_must_be_written_as_the_client_writes_it(tmp_path: Path) -> None:
    # 1.0 is a boundary, but the exposition says le="1.0": le="1" would match no series at all.
    with pytest.raises(SpecError, match=r'le="1" is not a bucket boundary'):
        load_spec(spec_with(tmp_path, 'le="0.5"', 'le="1"'))
    assert load_spec(spec_with(tmp_path, 'le="0.5"', 'le="1.0"')).slos[1].latency_threshold_seconds == 1.0


def test_queries_must_use_the_window_variable(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="must use"):
        load_spec(spec_with(tmp_path, "{{.window}}", "5m"))


def test_unknown_fields_are_refused(tmp_path: Path) -> None:
    data = yaml.safe_load(SPEC.read_text())
    data["slos"][0]["objectve"] = 99
    path = tmp_path / "slo.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError, match="objectve"):
        load_spec(path)


def test_policy_is_the_issues() -> None:
    def cond(c: object) -> tuple[float, int, int]:
        return (c.factor, c.long, c.short)  # type: ignore[attr-defined]

    assert [cond(c) for c in POLICY["page"]] == [(14.4, HOUR, 5 * MINUTE), (6, 6 * HOUR, 30 * MINUTE)]
    assert [cond(c) for c in POLICY["ticket"]] == [(3, DAY, 2 * HOUR), (1, 3 * DAY, 6 * HOUR)]
    assert [prom_duration(w) for w in SLI_WINDOWS] == ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"]


def test_windows_shrink() -> None:
    assert Windows(60).range(5 * MINUTE) == "5s"
    assert Windows(60).range(3 * DAY) == "1h12m"
    assert Windows(600).range(5 * MINUTE) == "500ms"
    with pytest.raises(ValueError):
        Windows(0.5)


def test_a_route_selector_other_than_the_contracts_is_refused_naming_slo_and_field(tmp_path: Path) -> None:
    # Our spec's copies of the contract's routes are checked where it is generated; any spec reads without it (a
    # spec for another server selects its own routes).
    contract = f'route=~"{prediction_routes_regex()}"'
    other = load_spec(spec_with(tmp_path, f'{contract},le="0.5"', 'route=~"/v1/predict",le="0.5"'))
    with pytest.raises(SpecError, match=r'requests-latency-500ms, sli\.events\.error_query: .*route=~"/v1/predict";'):
        check_contract_routes(other)
    with pytest.raises(SpecError, match="selects no route matcher"):
        check_contract_routes(load_spec(spec_with(tmp_path, f'{contract},le="0.5"', 'le="0.5"')))
    check_contract_routes(load_spec(SPEC))


def test_the_shipped_spec_selects_exactly_the_contracts_routes() -> None:
    expected = f'route=~"{prediction_routes_regex()}"'
    for slo in load_spec(SPEC).slos:
        for query in slo.sli.queries.values():
            routed = [s for s in selectors(query) if s.metric in ROUTED_SERIES]
            assert routed and all([str(m) for m in s.on("route")] == [expected] for s in routed)


def test_selectors_read_metric_and_matchers() -> None:
    sel, bare = selectors('sum(rate(x_bucket{job="a", le="0.5", route=~"/a|/b", code!~"5.."}[{{.window}}])) / y')
    assert bare == Selector("y", (), "y")
    assert sel.metric == "x_bucket" and [str(m) for m in sel.matchers] == [
        'job="a"',
        'le="0.5"',
        'route=~"/a|/b"',
        'code!~"5.."',
    ]
    assert sel.on("le") == [Matcher("le", "=", "0.5")]


def test_le_text_is_what_the_prometheus_client_writes() -> None:
    """Every bucket boundary of the contract, against a real histogram's exposition."""
    registry = CollectorRegistry()
    for name, bounds in vars(buckets).items():
        if name.isupper():
            Histogram(name.lower(), "h", buckets=bounds, registry=registry)
    exposed = re.findall(r'_bucket\{le="([^"]+)"\}', generate_latest(registry).decode())
    ours = [le_text(b) for name, bounds in vars(buckets).items() if name.isupper() for b in (*bounds, math.inf)]
    assert exposed == ours
    with pytest.raises(ValueError, match="this large"):
        le_text(1e6)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sli": {}}, "exactly one of"),
        ({"sli": {"raw": {"error_ratio_query": "x[5m]"}}}, "must use"),
        ({"name": "Bad Name"}, "should match pattern"),
        ({"objective": 100.5}, "less than or equal to 100"),
        ({"objective": 0}, "greater than 0"),
    ],
)
def test_invalid_slos_are_refused(tmp_path: Path, change: dict[str, object], message: str) -> None:
    data = yaml.safe_load(SPEC.read_text())
    data["slos"][0].update(change)
    path = tmp_path / "slo.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError, match=message):
        load_spec(path)


def test_names_are_unique_and_one_latency_threshold_per_slo(tmp_path: Path) -> None:
    data = yaml.safe_load(SPEC.read_text())
    data["slos"][2]["name"] = data["slos"][1]["name"]
    path = tmp_path / "slo.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError, match="must be unique"):
        load_spec(path)
    second = f'{metrics.REQUEST_DURATION.name}_bucket{{route=~"{prediction_routes_regex()}",le="0.1"}}'
    with pytest.raises(SpecError, match="one latency threshold per SLO"):
        load_spec(spec_with(tmp_path, '"5.."}[{{.window}}]))', f'"5.."}}[{{{{.window}}}}])) - sum(rate({second}[5m]))'))


def test_unknown_histograms_read_unchecked_and_missing_le_is_refused(tmp_path: Path) -> None:
    # A histogram that is not ours: its boundaries are unknown here, so its le is read, not checked (Sloth's
    # kubernetes-apiserver example reads such a histogram); the service's own histogram is checked (above).
    other = load_spec(spec_with(tmp_path, "http_server_request_duration_seconds_bucket", "other_seconds_bucket"))
    assert other.slos[1].latency_threshold_seconds == 0.5
    with pytest.raises(SpecError, match=re.escape('without exactly one le="..."')):
        load_spec(spec_with(tmp_path, ',le="0.5"', ""))


def test_a_raw_sli_and_unreadable_files(tmp_path: Path) -> None:
    data = yaml.safe_load(SPEC.read_text())
    data["slos"][0]["sli"] = {"raw": {"error_ratio_query": "max(rate(errors[{{.window}}]))"}}
    path = tmp_path / "slo.yaml"
    path.write_text(yaml.safe_dump(data))
    raw = load_spec(path).slos[0]
    assert raw.sli.error_ratio_query() == "(max(rate(errors[{{.window}}])))" and raw.latency_threshold_seconds is None
    with pytest.raises(SpecError, match="nowhere"):
        load_spec(tmp_path / "nowhere.yaml")
    path.write_text("slos: [")
    with pytest.raises(SpecError, match=r"slo\.yaml"):
        load_spec(path)


def test_durations_must_be_whole_milliseconds() -> None:
    assert prom_duration(0.5) == "500ms"
    with pytest.raises(ValueError, match="whole number of milliseconds"):
        prom_duration(0.0001)


def test_prometheus_durations_read_back_in_the_projects_duration_syntax() -> None:
    assert all(parse_duration(prom_duration(w)) == w for w in (*SLI_WINDOWS, 4320, 0.5))


def test_a_selectors_text_is_promql_that_reads_back_as_the_same_selector() -> None:
    query = 'rate(x{job="a\\"b", route=~"/a\\\\.b|/c"}[{{.window}}] offset 5m) / {__name__=~"y.+", k!="v"}'
    found = selectors(query)
    assert [s.text for s in found] == ['x{job="a\\"b", route=~"/a\\\\.b|/c"}', '{__name__=~"y.+", k!="v"}']
    assert [selectors(s.text)[0] for s in found] == found


def test_selectors_come_from_the_promql_grammar_not_the_text() -> None:
    """A brace inside a string and a metric named by __name__ are read as Prometheus reads them."""
    (sel,) = selectors('{__name__="x_count", route=~"/a{1}|/b", job="a"}')
    assert sel.metric == "x_count" and [str(m) for m in sel.matchers] == ['route=~"/a{1}|/b"', 'job="a"']
    with pytest.raises(ValueError):
        selectors('sum(rate(x{job="a"}[5m])')


def test_a_query_that_is_not_promql_is_refused_by_name(tmp_path: Path) -> None:
    data = yaml.safe_load(SPEC.read_text())
    data["slos"][0]["sli"] = {"raw": {"error_ratio_query": "max(rate(errors[{{.window}}])"}}
    path = tmp_path / "slo.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError, match=r"SLO requests-availability, sli.raw.error_ratio_query: not PromQL: unclosed"):
        load_spec(path)


# --- Sloth's own examples and the rest of what Sloth accepts ---------------------------------------------

SLOTH_EXAMPLES = Path(__file__).parent / "sloth_examples"


@pytest.mark.parametrize(
    ("example", "services", "slos"),
    [
        ("getting-started", ["myservice"], [["requests-availability"]]),
        ("no-alerts", ["myapp"], [["http-availability"]]),
        ("multifile", ["myservice", "myservice2"], [["requests-availability"], ["requests-availability"]]),
        ("home-wifi", ["home-wifi"], [["good-wifi-client-satisfaction", "risk-wifi-client-satisfaction"]]),
        ("raw-home-wifi", ["home-wifi"], [["wifi-client-satisfaction"]]),
        ("kubernetes-apiserver", ["k8s-apiserver"], [["requests-availability", "requests-latency"]]),
    ],
)
def test_every_prometheus_v1_example_of_sloth_reads(example: str, services: list[str], slos: list[list[str]]) -> None:
    specs = load_specs(SLOTH_EXAMPLES / f"{example}.yml")
    assert [s.service for s in specs] == services
    assert [[slo.name for slo in s.slos] for s in specs] == slos


def test_sloths_examples_read_as_sloth_reads_them() -> None:
    (getting_started,) = load_specs(SLOTH_EXAMPLES / "getting-started.yml")
    slo = getting_started.slos[0]
    assert slo.alerting.name == "MyServiceHighErrorRate" and slo.alerting.severities == ("page", "ticket")
    assert slo.alerting.alert("page").labels == {"severity": "pageteam", "routing_key": "myteam"}
    assert slo.alerting.alert("ticket").labels["slack_channel"] == "#alerts-myteam"
    assert str(slo.error_budget) == "0.001" and getting_started.slo_id(slo) == "myservice-requests-availability"
    (no_alerts,) = load_specs(SLOTH_EXAMPLES / "no-alerts.yml")
    assert no_alerts.slos[0].alerting.name == "" and no_alerts.slos[0].alerting.severities == ()
    assert str(no_alerts.slos[0].error_budget) == "0.0001"
    (apiserver,) = load_specs(SLOTH_EXAMPLES / "kubernetes-apiserver.yml")
    assert [s.latency_threshold_seconds for s in apiserver.slos] == [None, 0.4]
    (raw,) = load_specs(SLOTH_EXAMPLES / "raw-home-wifi.yml")
    assert raw.slos[0].sli.raw is not None and "[{{.window}}]" in raw.slos[0].sli.raw.error_ratio_query


def test_a_multi_document_file_is_refused_where_one_spec_is_expected() -> None:
    with pytest.raises(SpecError, match=r"2 specs .* load_specs"):
        load_spec(SLOTH_EXAMPLES / "multifile.yml")


@pytest.mark.parametrize(
    ("example", "message"),
    [
        (
            "plugin-getting-started",
            r'sli\.plugin \(id "getting_started_availability"\) is not supported: Sloth plugins',
        ),
        ("slo-plugin-getting-started", "slo_plugins is not supported: Sloth plugins"),
    ],
)
def test_sloth_plugins_are_refused_by_name(example: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        load_specs(SLOTH_EXAMPLES / f"{example}.yml")


def test_an_slos_own_plugins_are_refused(tmp_path: Path) -> None:
    data = yaml.safe_load(SPEC.read_text())
    data["slos"][0]["plugins"] = {"chain": [{"id": "sloth.dev/core/debug/v1"}]}
    path = tmp_path / "slo.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError, match="plugins is not supported"):
        load_spec(path)


@pytest.mark.parametrize("spelling", ["{{ .window }}", "{{.window }}", "{{  .window}}"])
def test_the_window_variable_may_be_spelled_with_spaces(tmp_path: Path, spelling: str) -> None:
    spaced = load_spec(spec_with(tmp_path, "{{.window}}", spelling))
    assert spaced == load_spec(SPEC)  # normalised: the rules are the same as with {{.window}}


def test_alerting_name_is_required_unless_both_alerts_are_disabled(tmp_path: Path) -> None:
    data = yaml.safe_load(SPEC.read_text())
    alerting = data["slos"][0]["alerting"]
    del alerting["name"]
    alerting["page_alert"]["disable"] = True
    path = tmp_path / "slo.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError, match=r"alerting\.name is required unless both"):
        load_spec(path)
    alerting["ticket_alert"]["disable"] = True
    path.write_text(yaml.safe_dump(data))
    assert load_spec(path).slos[0].alerting.severities == ()
    del data["slos"][0]["alerting"]  # no alerting block at all: both alerts are on, so the name is missing
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError, match=r"alerting\.name is required"):
        load_spec(path)


def test_one_disabled_alert_leaves_the_other(tmp_path: Path) -> None:
    data = yaml.safe_load(SPEC.read_text())
    data["slos"][0]["alerting"]["ticket_alert"] = {"disable": True}
    path = tmp_path / "slo.yaml"
    path.write_text(yaml.safe_dump(data))
    alerting = load_spec(path).slos[0].alerting
    assert alerting.severities == ("page",) and alerting.alert("ticket").disable


def test_sloths_names_and_a_100_percent_objective_read(tmp_path: Path) -> None:
    data = yaml.safe_load(SPEC.read_text())
    data["service"] = "My.Service_2"
    data["slos"][0]["objective"] = 100
    path = tmp_path / "slo.yaml"
    path.write_text(yaml.safe_dump(data))
    spec = load_spec(path)
    assert spec.service == "My.Service_2" and spec.slos[0].error_budget == 0
    data["service"] = "-leading-dash"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError, match="should match pattern"):
        load_spec(path)


def test_empty_documents_are_skipped_and_an_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "slo.yaml"
    path.write_text("---\n" + SPEC.read_text() + "\n---\n# nothing\n")
    assert len(load_specs(path)) == 1
    path.write_text("# nothing\n")
    with pytest.raises(SpecError, match="no spec in the file"):
        load_specs(path)
    path.write_text(SPEC.read_text() + "\n---\nversion: prometheus/v1\nservice: x\n")
    with pytest.raises(SpecError, match="document 2"):
        load_specs(path)


def test_burn_conditions_know_whether_they_can_fire() -> None:
    quick, slow = POLICY["page"]
    assert quick.can_fire(Decimal("0.001")) and not quick.can_fire(Decimal("0.1"))
    assert slow.can_fire(Decimal("0.1")) and not slow.can_fire(Decimal("0.2"))
    assert not BurnCondition(2, HOUR, MINUTE).can_fire(Decimal("0.5"))  # "ratio > 1" never holds either


def test_a_load_generator_series_without_the_contracts_routes_is_refused(tmp_path: Path) -> None:
    data = yaml.safe_load(SPEC.read_text())
    (synthetic,) = [s for s in data["slos"] if s["name"] == "synthetic-availability"]
    routed = f'job="loadgen",route=~"{prediction_routes_regex()}"'
    assert routed in synthetic["sli"]["events"]["total_query"]
    synthetic["sli"]["events"]["total_query"] = synthetic["sli"]["events"]["total_query"].replace(
        routed, 'job="loadgen"'
    )
    path = tmp_path / "slo.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(SpecError, match=r"synthetic-availability, sli\.events\.total_query: loadgen_requests_total "):
        check_contract_routes(load_spec(path))
