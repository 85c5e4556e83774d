"""The status model fed Prometheus's own answers, captured from real runs (data/capture.py says how): a run
with faults (5xx, slow requests, alerts firing), an idle one (no prediction traffic), and Prometheus failing.

Expected figures are read from the captured JSON itself, never typed in: the model must add up what
Prometheus said, by the labels it said them with.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from slo.spec import load_specs
from stack.prometheus import Prometheus
from stack.settings import ROOT
from stack.status import model
from stack.status.model import Gap, Source, Watched
from tests.unit.stack.canned import CannedPrometheus, closed_port_url

DATA = Path(__file__).parent / "data"
SPECS = load_specs(ROOT / "prometheus" / "slo.yaml")
WINDOW = "30s"  # the captures' rate window


def captured(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / f"status-{name}.json").read_text())
    return data


def serve(canned: CannedPrometheus, name: str) -> dict[str, Any]:
    data = captured(name)
    canned.queries = {expr: (200, body) for expr, body in data.items() if not expr.startswith("/")}
    canned.paths = {"/api/v1/alerts": (200, data["/api/v1/alerts"]), "/readyz": (200, "ok")}
    return data


def source(url: str, watched: list[Watched] | None = None, pids: dict[str, int] | None = None) -> Source:
    return Source(
        prometheus=Prometheus(url, timeout=2),
        specs=SPECS,
        watched=watched or [],
        pid=(pids or {}).get,
        window=30.0,
        shortest=2.0,
    )


def series(data: dict[str, Any], name: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = data[model.queries(WINDOW)[name]]["data"]["result"]
    return result


def test_every_recording_the_status_reads_is_one_the_generated_rules_define() -> None:
    rules = ROOT / "prometheus" / "generated" / "rules"
    recorded = {
        rule["record"]
        for path in rules.glob("*.yml")
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "record" in rule
    }
    assert set(model.RECORDINGS) <= recorded


def test_the_captures_answer_every_question_the_model_asks() -> None:
    for name in ("faults", "idle"):
        assert set(model.queries(WINDOW).values()) <= set(captured(name))


def test_a_run_with_faults_reads_rates_by_class_latency_slos_and_alerts(canned_prometheus: CannedPrometheus) -> None:
    data = serve(canned_prometheus, "faults")
    status = model.fetch(source(canned_prometheus.url), started=time.time() - 100)
    assert status.window == WINDOW

    by_code = {s["metric"]["status_code"]: float(s["value"][1]) for s in series(data, "service_by_status")}
    assert by_code["500"] > 0  # the capture holds the injected errors
    service = status.service.by_outcome
    assert not isinstance(service, Gap)
    assert service["5xx"] == pytest.approx(sum(v for k, v in by_code.items() if k.startswith("5")))
    assert service["2xx"] == pytest.approx(sum(v for k, v in by_code.items() if k.startswith("2")))
    assert status.service.total == pytest.approx(sum(by_code.values()))
    assert status.service.dropped is None and status.service.target is None

    outcomes = {s["metric"]["outcome"]: float(s["value"][1]) for s in series(data, "client_by_outcome")}
    assert status.client.total == pytest.approx(sum(outcomes.values()))
    assert status.client.target == float(series(data, "client_target")[0]["value"][1])
    assert status.client.dropped == 0.0 and status.client.transport_errors == {}

    p99 = float(series(data, "service_p99")[0]["value"][1])
    assert status.service.p99 == pytest.approx(p99) and 0.1 < p99 < 1.0  # the injected 200 ms shows
    assert isinstance(status.client.p50, float) and status.client.p50 < status.client.p99  # type: ignore[operator]

    names = [s.name for s in status.slos]
    assert names == [slo.name for spec in SPECS for slo in spec.slos]
    errors = {s["metric"]["sloth_slo"]: float(s["value"][1]) for s in data[model.SLI_NOW]["data"]["result"]}
    for slo in status.slos:
        assert slo.sli_now == pytest.approx(1 - errors[slo.name])
        assert isinstance(slo.budget_remaining, float) and isinstance(slo.burn_now, float)
    availability = next(s for s in status.slos if s.name == "requests-availability")
    assert availability.sli_now < availability.objective  # type: ignore[operator]  # 30% errors

    raw = data["/api/v1/alerts"]["data"]["alerts"]
    assert not isinstance(status.alerts, Gap) and len(status.alerts) == len(raw)
    firing = status.firing
    assert not isinstance(firing, Gap)
    assert {a.name for a in firing} == {a["labels"]["alertname"] for a in raw if a["state"] == "firing"} != set()
    assert status.alerts[: len(firing)] == firing  # firing first


def test_transport_errors_stay_apart_from_status_classes(canned_prometheus: CannedPrometheus) -> None:
    data = serve(canned_prometheus, "faults")
    expr = model.queries(WINDOW)["client_by_outcome"]
    body = data[expr]
    body["data"]["result"] += [
        {"metric": {"outcome": "timeout"}, "value": [0, "0.5"]},
        {"metric": {"outcome": "connect"}, "value": [0, "0.25"]},
        {"metric": {"outcome": "503"}, "value": [0, "NaN"]},  # NaN is no number, not 0 and not an error
    ]
    canned_prometheus.queries[expr] = (200, body)
    status = model.fetch(source(canned_prometheus.url), started=time.time() - 100)
    assert status.client.transport_errors == {"timeout": 0.5, "connect": 0.25}
    outcomes = status.client.by_outcome
    assert not isinstance(outcomes, Gap) and not any(math.isnan(v) for v in outcomes.values())


def test_zero_traffic_is_0_requests_and_no_data_never_nan(canned_prometheus: CannedPrometheus) -> None:
    data = serve(canned_prometheus, "idle")
    assert series(data, "service_by_status") == [] and data[model.SLI_NOW]["data"]["result"] == []  # as captured
    status = model.fetch(source(canned_prometheus.url), started=time.time() - 100)
    assert status.service.total == 0 and status.client.total == 0 and status.client.dropped == 0
    assert status.service.p50 is Gap.NO_DATA and status.client.p99 is Gap.NO_DATA
    assert all(s.sli_now is Gap.NO_DATA and s.budget_remaining is Gap.NO_DATA for s in status.slos)
    alerts = status.alerts
    assert not isinstance(alerts, Gap) and alerts and status.firing == []  # pending only


def test_traffic_that_stopped_reads_nan_and_shows_no_data(canned_prometheus: CannedPrometheus) -> None:
    data = serve(canned_prometheus, "faults")
    for name in (model.SLI_NOW, model.BURN_NOW):  # 0 errors / 0 requests over 5m: Prometheus writes "NaN"
        for one in data[name]["data"]["result"]:
            one["value"][1] = "NaN"
        canned_prometheus.queries[name] = (200, data[name])
    status = model.fetch(source(canned_prometheus.url), started=time.time() - 100)
    assert all(s.sli_now is Gap.NO_DATA and s.burn_now is Gap.NO_DATA for s in status.slos)
    assert all(isinstance(s.sli_period, float) for s in status.slos)


def test_prometheus_down_is_n_a_everywhere_and_never_raises() -> None:
    status = model.fetch(source(closed_port_url()), started=time.time())
    assert status.service.by_outcome is Gap.FAILED and status.client.total is Gap.FAILED
    assert status.client.p99 is Gap.FAILED and status.client.dropped is Gap.FAILED
    assert status.alerts is Gap.FAILED and status.firing is Gap.FAILED
    assert all(s.sli_now is Gap.FAILED and s.budget_remaining is Gap.FAILED for s in status.slos)


def test_a_refused_query_or_a_body_that_is_not_prometheus_json_is_n_a(canned_prometheus: CannedPrometheus) -> None:
    serve(canned_prometheus, "faults")
    refused = (400, {"status": "error", "errorType": "bad_data", "error": "parse error"})
    canned_prometheus.queries[model.SLI_NOW] = refused
    canned_prometheus.queries[model.queries(WINDOW)["service_p99"]] = (200, "not json")
    canned_prometheus.paths["/api/v1/alerts"] = (503, "Service Unavailable")
    status = model.fetch(source(canned_prometheus.url), started=time.time() - 100)
    assert all(s.sli_now is Gap.FAILED for s in status.slos)
    assert all(isinstance(s.sli_period, float) for s in status.slos)  # the other questions still answered
    assert status.service.p99 is Gap.FAILED and isinstance(status.service.p50, float)
    assert status.alerts is Gap.FAILED


def test_processes_are_up_starting_or_down(canned_prometheus: CannedPrometheus, tmp_path: Path) -> None:
    serve(canned_prometheus, "idle")
    url = canned_prometheus.url
    watched = [
        Watched("service", url, f"{url}/readyz", tmp_path / "service.log"),
        Watched("loadgen", url, f"{url}/not-ready", tmp_path / "loadgen.log"),
        Watched("prometheus", url, f"{url}/readyz", tmp_path / "prometheus.log"),
    ]
    status = model.fetch(source(url, watched, {"service": 10, "loadgen": 11}), started=time.time())
    assert [(p.name, p.state, p.pid) for p in status.processes] == [
        ("service", "up", 10),
        ("loadgen", "starting", 11),
        ("prometheus", "down", None),
    ]


def test_the_rate_window_is_never_longer_than_the_stack_has_run(canned_prometheus: CannedPrometheus) -> None:
    s = source(canned_prometheus.url)
    assert model.rate_window(s, 0.4) == "2s"  # two scrapes at least
    assert model.rate_window(s, 12.7) == "12s"
    assert model.rate_window(s, 3600) == "30s"
