"""The SLO report: its arithmetic on the spec's exact budget, its verdicts, and a whole build over a socket."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slo.spec import SLOSpec, load_spec
from stack import report
from stack.prometheus import Prometheus
from stack.report import assess, build, render, sli_queries
from tests.unit.stack.canned import CannedPrometheus, vector

SPEC = load_spec(Path(__file__).resolve().parents[3] / "prometheus" / "slo.yaml")
AVAILABILITY, LATENCY_500MS, _ = SPEC.slos


NOT_EVALUATING = "Sloth recording rules not evaluating (slo:sli_error:ratio_rate5m, ...)"


def raw_slo() -> SLOSpec:
    return SLOSpec.model_validate(
        {
            "name": "raw",
            "objective": 99,
            "sli": {"raw": {"error_ratio_query": "max(rate(errors[{{.window}}]))"}},
            "alerting": {"name": "RawBurn"},
        }
    )


def test_sli_queries_put_the_window_in_the_specs_own_queries() -> None:
    error, total = sli_queries(AVAILABILITY, "90s")
    assert error == AVAILABILITY.sli.events.error_query.replace("{{.window}}", "90s")  # type: ignore[union-attr]
    assert "[90s]" in total and "{{.window}}" not in error + total
    assert sli_queries(raw_slo(), "1m") == ("(max(rate(errors[1m])))", "vector(1)")


def test_a_met_slo_burns_its_exact_budget() -> None:
    # 0.05% errors against a 0.1% budget: burn rate 0.5 (a float budget 1 - 0.999 would give 0.4999999999999996).
    result = assess(AVAILABILITY, 60, total=10.0, errors=0.005, now_5m=0.0, remaining=0.9, alert_fired=False)
    assert result.ok and result.problems == []
    assert result.burn_rate == 0.5
    assert result.sli == pytest.approx(0.9995, abs=1e-15)
    assert result.requests == 600 and result.sli_5m_now == 1.0 and result.budget_spent == pytest.approx(0.1)


def test_no_error_series_means_no_errors() -> None:
    result = assess(LATENCY_500MS, 10, total=2.0, errors=None, now_5m=0.0, remaining=1.0, alert_fired=False)
    assert result.ok and result.error_ratio == 0 and result.sli == 1


def test_every_kind_of_breach_is_named() -> None:
    under = assess(LATENCY_500MS, 10, total=1.0, errors=0.2, now_5m=None, remaining=None, alert_fired=True)
    assert under.problems == [
        "SLI 80.0000% under the objective 90%",
        NOT_EVALUATING,
        "alert InsuranceChargesLatency500msSLO fired",
    ]
    silent = assess(AVAILABILITY, 10, total=0.0, errors=None, now_5m=0.0, remaining=1.0, alert_fired=False)
    assert silent.problems == ["no traffic in the window"] and silent.sli is None and silent.requests == 0


def test_build_reads_prometheus_and_renders_a_breach(canned_prometheus: CannedPrometheus) -> None:
    error, total = sli_queries(AVAILABILITY, "60s")
    availability = '{sloth_service="insurance-charges", sloth_slo="requests-availability"}'
    fired = {"__name__": "ALERTS", "alertname": "InsuranceChargesAvailabilitySLO", "sloth_severity": "page"}
    canned_prometheus.queries = {
        total: vector(20),
        error: vector(1),
        f"max(slo:sli_error:ratio_rate5m{availability})": vector(0.05),
        f"min(slo:period_error_budget_remaining:ratio{availability})": vector(-4),
        'max_over_time(ALERTS{alertstate="firing"}[60s])': vector(1, metric=fired),
    }
    active = {"labels": {"alertname": "InsuranceChargesAvailabilitySLO"}, "state": "firing"}
    canned_prometheus.paths = {"/api/v1/alerts": (200, {"status": "success", "data": {"alerts": [active]}})}
    result = build(Prometheus(canned_prometheus.url), SPEC, 60, at=1000.0)
    assert {q["time"] for q in canned_prometheus.seen} == {"1000.000"}
    first, *others = result.slos
    assert first.burn_rate == pytest.approx(50) and first.requests == 1200 and first.budget_spent == 5
    assert "alert InsuranceChargesAvailabilitySLO fired" in first.problems
    # Every SLO counts the same requests; the canned Prometheus has no errors nor recordings for the others.
    assert [(s.sli, s.problems) for s in others] == [(1.0, [NOT_EVALUATING])] * 2
    assert result.fired == [{k: v for k, v in fired.items() if k != "__name__"}] and not result.ok
    text = render(result)
    row = next(line.split() for line in text.splitlines() if line.startswith("  requests-availability "))
    assert row == ["requests-availability", "99.9%", "95.000%", "50.00x", "1,200", "95.000%", "500.0%", "BREACH"]
    assert text.splitlines()[-1] == "verdict: BREACH"
    assert "InsuranceChargesAvailabilitySLO (firing)" in text
    saved = json.loads(result.to_json())
    assert saved["ok"] is False and saved["slos"][0]["name"] == "requests-availability"


def test_a_clean_report_passes() -> None:
    met = assess(AVAILABILITY, 60, total=1.0, errors=0.0, now_5m=0.0, remaining=1.0, alert_fired=False)
    clean = report.Report("svc", 60, 0.0, [met], fired=[], active=[])
    text = render(clean)
    assert clean.ok and "alerts that fired in the window: none" in text and text.endswith("PASS: every SLO met")
