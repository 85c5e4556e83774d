"""`slo.validate`: what a spec that reads can still get wrong, offline and against a live Prometheus's series."""

from __future__ import annotations

from pathlib import Path

import yaml

from slo.spec import Spec, load_spec, load_specs
from slo.validate import Finding, check, check_live
from tests.processes import ROOT

SPEC = ROOT / "prometheus" / "slo.yaml"
EXAMPLES = Path(__file__).parent / "sloth_examples"


def with_changes(**changes: object) -> Spec:
    data = yaml.safe_load(SPEC.read_text())
    data["slos"][0].update(changes)
    return Spec.model_validate(data)


def test_the_shipped_spec_is_valid_with_one_dead_condition_noted() -> None:
    findings = check(load_spec(SPEC))
    assert findings == [
        Finding(
            "warning",
            f"insurance-charges/{name}",
            "the page alert's condition 14.4x over 1h/5m needs a ratio > 1.44: it never fires",
        )
        for name in ("requests-latency-500ms", "synthetic-latency-500ms")  # the server's and the client's view
    ]


def test_an_alert_none_of_whose_conditions_can_fire_is_refused_unless_disabled() -> None:
    errors = [f for f in check(with_changes(objective=80)) if f.level == "error"]
    assert [str(f) for f in errors] == [
        "error: insurance-charges/requests-availability: the page alert can never fire: an error ratio is at most 1, "
        "and with a budget of 0.2 (objective 80%) 14.4x over 1h/5m needs a ratio > 2.88; 6x over 6h/30m needs a "
        "ratio > 1.2. Disable alerting.page_alert or choose an objective above 83.33%"
    ]
    alerting = {"name": "X", "page_alert": {"disable": True}}
    disabled = check(with_changes(objective=80, alerting=alerting))
    # the shipped notes alone
    assert [f.where for f in disabled] == [f"insurance-charges/{s}-latency-500ms" for s in ("requests", "synthetic")]
    # 50%: the ticket's 3x condition is dead too, its 1x one lives.
    assert "ticket alert's condition 3x over 1d/2h" in " ".join(map(str, check(with_changes(objective=50))))


def test_what_cannot_be_checked_offline_is_said() -> None:
    (apiserver,) = load_specs(EXAMPLES / "kubernetes-apiserver.yml")
    (finding,) = check(apiserver)
    assert finding.level == "warning" and "apiserver_request_duration_seconds's bucket boundaries" in finding.message
    perfect = check(with_changes(objective=100))
    assert any("no error budget" in f.message for f in perfect)
    events = yaml.safe_load(SPEC.read_text())["slos"][0]["sli"]["events"]
    same = check(
        with_changes(sli={"events": {"error_query": events["total_query"], "total_query": events["total_query"]}})
    )
    assert any("are the same" in f.message for f in same)
    (no_alerts,) = load_specs(EXAMPLES / "no-alerts.yml")
    assert check(no_alerts) == []


def test_live_every_selector_must_match_a_series_each_asked_once() -> None:
    spec = load_spec(SPEC)
    asked: list[str] = []

    def count(selector: str) -> int:
        asked.append(selector)
        return 0 if 'le="0.1"' in selector else 3

    findings = check_live(spec, count)
    # per side: errors, total (the client's: finished and dropped; its latency also reads the histogram's
    # count), and one bucket per latency SLO
    assert len(asked) == len(set(asked)) == 4 + 6
    assert [(f.level, f.where) for f in findings] == [
        ("error", f"insurance-charges/{side}-latency-100ms, sli.events.error_query")
        for side in ("requests", "synthetic")
    ]
    assert all('le="0.1"' in f.message and "matches no series" in f.message for f in findings)
