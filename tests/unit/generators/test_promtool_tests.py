"""The promtool test generator's own arithmetic: scenarios, threshold margins, expected alerts, inputs."""

from __future__ import annotations

from fractions import Fraction

import pytest

from contract import metrics, routes
from generators.paths import SPEC
from generators.prometheus.promtool_edges import LOADGEN_ERROR_KINDS
from generators.prometheus.promtool_tests import (
    Scenario,
    Segment,
    above,
    close_to,
    fires,
    input_series,
    job_of,
    reads_loadgen,
    slo_test_files,
)
from loadgen.http.errors import ERROR_KINDS
from slo.spec import load_spec
from slo.windows import MINUTE

LOADED = load_spec(SPEC)
AVAILABILITY, LATENCY_500MS, *_ = LOADED.slos


def test_scenario_counts_whole_requests_and_averages_over_what_exists() -> None:
    scenario = Scenario([Segment(2, Fraction(0)), Segment(2, Fraction(1, 3))], step=MINUTE)
    assert scenario.requests[1] == 60_000 and scenario.segments[1].error_ratio == Fraction(20_000, 60_000)
    assert scenario.ratio(4, 2 * MINUTE) == Fraction(1, 3)
    assert scenario.ratio(4, 60 * MINUTE) == Fraction(1, 6)  # a fresh history: only 4 steps exist
    assert scenario.ratio(4, 30) is None and scenario.ratio(0, MINUTE) is None
    assert scenario.values("bad") == "0+0x2 20000+20000x1"
    assert scenario.values("all") == "0+60000x2 180000+60000x1"
    assert scenario.time(3) == "3m"


def test_above_refuses_near_ties_but_accepts_an_exact_one() -> None:
    t = Fraction(1, 100)
    assert above(t, t) is False and above(None, t) is False
    assert above(t * Fraction(1005, 1000), t) is None
    assert above(t * 2, t) is True and above(t / 2, t) is False


def test_a_check_too_close_to_a_threshold_is_refused() -> None:
    near = Fraction(144, 10_000) * Fraction(1005, 1000)  # 0.5% over the 14.4x page threshold
    scenario = Scenario([Segment(120, near)], step=MINUTE)
    with pytest.raises(ValueError, match="too close"):
        fires(LOADED, AVAILABILITY, scenario, 120, "page")


def test_inputs_spread_over_the_contracts_prediction_routes_with_noise_elsewhere() -> None:
    scenario = Scenario([Segment(3, Fraction(1, 10))], step=MINUTE)
    text = " ".join(s["series"] for s in input_series(AVAILABILITY, scenario) + input_series(LATENCY_500MS, scenario))
    assert all(f'route="{r}"' in text for r in routes.PREDICTION_ROUTES)
    assert f'route="{routes.MODEL_INFO}"' in text and f'route="{routes.METRICS}"' in text
    assert 'le="0.5"' in text


def test_close_to_is_relative_with_a_floor() -> None:
    assert close_to("x", Fraction(1, 2)) == "abs(x - 0.5) <= bool 5e-10"
    assert close_to("x", Fraction(0)) == "abs(x - 0.0) <= bool 1e-15"


def test_an_unreachable_condition_is_noted_not_tested() -> None:
    # A 10% budget: 14.4x would need an error ratio over 1.
    files = slo_test_files(LOADED, LATENCY_500MS, "../rules/x.yml")
    tests, notes = files["page"]
    assert notes == ["page 14.4x over 1h and 5m: unreachable for a 90% objective (error ratio over 1.44)"]
    assert [t["name"].split(":")[1].strip() for t in tests["tests"]] == ["page 6x over 6h and 30m"]
    assert files["records"][0]["group_eval_order"][0].startswith("sloth-slo-sli-recordings-")


def test_rates_are_what_prometheus_computes_and_the_period_is_weighted_by_requests() -> None:
    # 10 steps quiet (1 rps, no error), then 2 steps busy (99 rps, 10% errors).
    scenario = Scenario(
        [Segment(10, Fraction(0), rate=Fraction(1)), Segment(2, Fraction(1, 10), rate=Fraction(99))], step=MINUTE
    )
    assert scenario.rate(12, 5 * MINUTE) == Fraction(60 * 3 + 99 * 60 * 2, 300)
    assert scenario.rate(2, 5 * MINUTE) == Fraction(120, 300)  # a short history: what exists / the window
    assert scenario.events(12, 5 * MINUTE) == 60 * 3 + 99 * 60 * 2
    assert scenario.truth(12) == Fraction(2 * 594, 600 + 2 * 5940)
    period = scenario.period_ratio(12)
    assert period is not None and abs(period - scenario.truth(12)) < Fraction(1, 10) * scenario.truth(12)
    assert Scenario([Segment(3, Fraction(1, 2), rate=Fraction(0))], step=MINUTE).period_ratio(3) is None


def test_the_min_events_guard_holds_an_alert_at_low_traffic() -> None:
    # 1 request in 6 fails: 17x the 99.9% budget; at 1 rps the 5m window holds 300 requests (over 100), at
    # 0.1 rps 30 (and 180 in the 30m window, so the 6x condition's guard lets it through once its 6h window is over).
    normal = Scenario([Segment(120, Fraction(1, 6), rate=Fraction(1))], step=MINUTE)
    assert normal.events(120, 5 * MINUTE) == 300 and fires(LOADED, AVAILABILITY, normal, 120, "page")
    low = Scenario([Segment(120, Fraction(1, 6), rate=Fraction(1, 10))], step=MINUTE)
    assert low.events(120, 5 * MINUTE) == 30
    assert [c.long for c in fires(LOADED, AVAILABILITY, low, 120, "page")] == [6 * 60 * MINUTE]
    with pytest.raises(ValueError, match="whole"):
        Scenario([Segment(1, Fraction(0), rate=Fraction(1, 7))], step=MINUTE)


def test_a_100_percent_objective_gets_no_burn_tests_but_a_note() -> None:
    # Sloth accepts objective 100 (a zero budget); the model is copied without validation for the case.
    slo = AVAILABILITY.model_copy(update={"objective": 100.0})
    files = slo_test_files(LOADED, slo, "../rules/x.yml")
    assert {name: (data["tests"], notes) for name, (data, notes) in files.items()} == {
        name: ([], ["objective 100%: no error budget, so no burn rate to test"])
        for name in ("edges", "page", "records", "ticket")
    }


SYNTHETIC = {slo.name: slo for slo in LOADED.slos if reads_loadgen(slo)}


def test_synthetic_slos_read_the_load_generators_series_on_every_route() -> None:
    assert sorted(SYNTHETIC) == ["synthetic-availability", "synthetic-latency-100ms", "synthetic-latency-500ms"]
    assert not reads_loadgen(AVAILABILITY) and job_of(AVAILABILITY) == metrics.SERVICE_JOB
    scenario = Scenario([Segment(3, Fraction(1, 10))], step=MINUTE)
    series = [s["series"] for slo in SYNTHETIC.values() for s in input_series(slo, scenario)]
    assert all(s.startswith("loadgen_") and f'job="{metrics.LOADGEN_JOB}"' in s for s in series)
    text = " ".join(series)
    assert all(f'route="{r}"' in text for r in routes.PREDICTION_ROUTES) and f'route="{routes.MODEL_INFO}"' in text
    assert metrics.LOADGEN_DROPPED.name in text and 'le="0.1"' in text and 'outcome="timeout"' in text


def test_the_client_failures_test_covers_every_transport_error_kind_of_the_load_generator() -> None:
    # The generators may not import loadgen: their copy of the kinds is checked here.
    assert LOADGEN_ERROR_KINDS == ERROR_KINDS
    edges, _ = slo_test_files(LOADED, SYNTHETIC["synthetic-availability"], "../rules/x.yml")["edges"]
    (test,) = [t for t in edges["tests"] if "transport error kind" in t["name"]]
    text = " ".join(s["series"] for s in test["input_series"])
    assert all(f'outcome="{kind}"' in text for kind in ERROR_KINDS) and 'outcome="503"' in text
    server_edges, notes = slo_test_files(LOADED, AVAILABILITY, "../rules/x.yml")["edges"]
    assert not any("transport error kind" in t["name"] for t in server_edges["tests"])
    assert any(n.startswith("client-failures test") for n in notes)
