"""The SLO spec model, the burn-rate policy and the thresholds derived from the spec."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from contract import buckets, metrics
from contract.durations import parse_duration
from contract.metrics import le_text
from contract.routes import prediction_routes_regex
from slo.selectors import Matcher, Selector, selectors
from slo.spec import SpecError, load_spec
from slo.thresholds import k6_thresholds
from slo.windows import DAY, HOUR, MINUTE, POLICY, SLI_WINDOWS, Windows, prom_duration
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
    contract = f'route=~"{prediction_routes_regex()}"'
    with pytest.raises(SpecError, match=r'requests-latency-500ms, sli\.events\.error_query: .*route=~"/v1/predict";'):
        load_spec(spec_with(tmp_path, f'{contract},le="0.5"', 'route=~"/v1/predict",le="0.5"'))
    with pytest.raises(SpecError, match="selects no route matcher"):
        load_spec(spec_with(tmp_path, f'{contract},le="0.5"', 'le="0.5"'))


def test_the_shipped_spec_selects_exactly_the_contracts_routes() -> None:
    expected = f'route=~"{prediction_routes_regex()}"'
    for slo in load_spec(SPEC).slos:
        for query in slo.sli.queries.values():
            routed = [s for s in selectors(query) if s.metric.startswith(metrics.REQUEST_DURATION.name)]
            assert routed and all([str(m) for m in s.on("route")] == [expected] for s in routed)


def test_selectors_read_metric_and_matchers() -> None:
    sel, bare = selectors('sum(rate(x_bucket{job="a", le="0.5", route=~"/a|/b", code!~"5.."}[{{.window}}])) / y')
    assert bare == Selector("y", ())
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
        ({"objective": 100}, "less than 100"),
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


def test_unknown_histograms_and_missing_le_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="unknown histogram"):
        load_spec(spec_with(tmp_path, "http_server_request_duration_seconds_bucket", "other_seconds_bucket"))
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
