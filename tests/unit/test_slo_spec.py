"""The SLO spec model, the burn-rate policy and the thresholds derived from the spec."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

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
