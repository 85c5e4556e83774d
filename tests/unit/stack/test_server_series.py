"""The server's side of the status screen and a run's figures reads the target's own request series, as the spec
names them: ours for our spec, each preset's for a spec `slo init` wrote, none for a client-side-only spec."""

from __future__ import annotations

from pathlib import Path

import promql_parser
import pytest

from slo.init import PRESETS, Objectives, write_spec
from slo.spec import load_spec, load_specs
from stack.page import compare
from stack.server_series import OURS, ServerSeries, server_series
from stack.settings import ROOT
from stack.status import model

#: Per preset: the histogram, the series counted by status and its status label, and the route matcher, as the
#: preset's real /metrics pages write them (slo/presets.py).
EXPECTED = {
    "service": ("http_server_request_duration_seconds", "http_server_request_duration_seconds_count", "status_code",
                'route=~"/predict"'),
    "otel": ("http_server_request_duration_seconds", "http_server_request_duration_seconds_count",
             "http_response_status_code", 'http_route=~"/predict"'),
    "bentoml": ("bentoml_service_request_duration_seconds", "bentoml_service_request_duration_seconds_count",
                "http_response_code", 'endpoint=~"/predict"'),
    # its histogram has no status label: statuses come from its counter
    "fastapi-instrumentator": ("http_request_duration_seconds", "http_requests_total", "status",
                               'handler=~"/predict"'),
}  # fmt: skip


def test_our_spec_reads_our_series() -> None:
    assert server_series(load_specs(ROOT / "prometheus" / "slo.yaml")) == OURS


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_presets_spec_reads_its_own_series(name: str, tmp_path: Path) -> None:
    path = tmp_path / "slo.yaml"
    write_spec(PRESETS[name], "my-model", ["/predict"], Objectives(), path)
    found = server_series([load_spec(path)])
    histogram, counted, status, route = EXPECTED[name]
    assert found is not None
    assert (found.histogram, found.counted, found.status_label) == (histogram, counted, status)
    assert route in found.selector and found.selector.startswith('job="')
    assert found.by_status("1m") == f"sum by ({status}) (rate({counted}{{{found.selector}}}[1m]))"
    asked = model.queries("1m", found)
    assert asked["service_by_status"] == found.by_status("1m")
    assert f"{histogram}_bucket{{{found.selector}}}" in asked["service_p99"]


def test_a_spec_of_client_side_slos_only_has_no_server_series(tmp_path: Path) -> None:
    path = tmp_path / "slo.yaml"
    write_spec(PRESETS["loadgen"], "my-model", ["/predict"], Objectives(), path)
    assert server_series([load_spec(path)]) is None


def test_statuses_are_grouped_by_the_presets_label_and_a_missing_label_counts_all() -> None:
    answer = [{"metric": {"status": "2xx"}, "value": [0, "3"]}, {"metric": {"status": "5xx"}, "value": [0, "1"]}]
    assert model.grouped(answer, "status") == {"2xx": 3.0, "5xx": 1.0}
    assert model.grouped([{"metric": {}, "value": [0, "4"]}], None) == {"all": 4.0}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_runs_figures_read_the_presets_series(name: str, tmp_path: Path) -> None:
    path = tmp_path / "slo.yaml"
    write_spec(PRESETS[name], "my-model", ["/predict"], Objectives(), path)
    found = server_series([load_spec(path)])
    assert found is not None
    histogram, counted, status, _ = EXPECTED[name]
    assert compare.latency_series(found)["service"] == f"{histogram}_bucket{{{found.selector}}}"
    rates = compare.rates(found)
    assert rates["service answered"] == f"sum(rate({counted}{{{found.selector}}}[{{range}}]))"
    assert f'{status}=~"5.."' in rates["service 5xx"]


def test_our_runs_figures_are_read_as_before() -> None:
    """The queries of run.json's figures for our own service (run folders written before read the same)."""
    assert compare.latency_series(OURS)["service"].startswith("http_server_request_duration_seconds_bucket{")
    assert 'status_code=~"5.."' in compare.rates(OURS)["service 5xx"]


def test_a_route_with_regex_syntax_stays_escaped_in_the_queries(tmp_path: Path) -> None:
    """slo init escapes a route's "." in its regex; the status and figures must write it back as PromQL reads it."""
    path = tmp_path / "slo.yaml"
    write_spec(PRESETS["bentoml"], "my-model", ["/v1/model.predict"], Objectives(), path)
    found = server_series([load_spec(path)])
    assert found is not None
    assert 'endpoint=~"/v1/model\\\\.predict"' in found.selector  # PromQL's "\\." : a regex's escaped dot
    parsed = promql_parser.parse(found.by_status("1m"))  # PromQL's own parser accepts it
    assert parsed is not None


def test_a_series_without_job_or_route_matchers_still_makes_valid_queries() -> None:
    bare = ServerSeries(selector="", histogram="h", counted="h_count", status_label="code")
    for expr in (*compare.rates(bare).values(), bare.by_status("1m")):
        promql_parser.parse(expr.replace("{range}", "1m"))
