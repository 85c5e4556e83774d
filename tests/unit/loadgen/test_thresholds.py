"""k6-style thresholds: the syntax, the units, the checks, and the ones an SLO spec implies."""

from __future__ import annotations

import pytest

from loadgen import thresholds
from slo.thresholds import k6_thresholds
from tests import processes


@pytest.mark.parametrize(
    ("text", "metric", "op", "value", "pct"),
    [
        ("p(99.9) < 1.5s", "p(99.9)", "<", 1500.0, 99.9),
        ("p(50)<=250us", "p(50)", "<=", 0.25, 50.0),
        ("avg<=20", "avg", "<=", 20.0, None),  # a bare latency number is milliseconds, as in k6
        ("max<2s", "max", "<", 2000.0, None),
        ("med!=3µs", "med", "!=", 0.003, None),
        ("error_rate<0.001", "error_rate", "<", 0.001, None),
        ("rps>5", "rps", ">", 5.0, None),
        ("dropped_rate==0", "dropped_rate", "==", 0.0, None),
        ("requests>=1e3", "requests", ">=", 1000.0, None),
    ],
)
def test_syntax(text: str, metric: str, op: str, value: float, pct: float | None) -> None:
    t = thresholds.parse(text)
    assert (t.text, t.metric, t.op, t.percentile) == (text.strip(), metric, op, pct)
    assert t.value == pytest.approx(value)


@pytest.mark.parametrize(
    ("text", "why"),
    [("p(99)<", "expected e.g."), ("latency<1", "unknown metric 'latency'"), ("rps>5ms", "takes no unit"),
     ("p(101)<1", "percentile out of 0-100"), ("p99<1ms", "expected e.g.")],
)  # fmt: skip
def test_bad_thresholds_say_why(text: str, why: str) -> None:
    with pytest.raises(ValueError, match="bad threshold") as exc:
        thresholds.parse(text)
    assert why in str(exc.value)


def test_checks_compare_the_actual_value() -> None:
    values = {"error_rate": 0.0005, "avg": 12.0}
    assert thresholds.parse("error_rate<0.001").check(values, lambda p: 0) == (True, 0.0005)
    assert thresholds.parse("avg>12").check(values, lambda p: 0) == (False, 12.0)
    assert thresholds.parse("p(90)<100").check(values, lambda p: p * 2) == (False, 180.0)


def test_an_slo_spec_gives_its_thresholds() -> None:
    spec = processes.ROOT / "prometheus" / "slo.yaml"
    texts = thresholds.from_slo(spec)
    assert texts and texts == list(k6_thresholds(spec))
    assert all(thresholds.parse(t) for t in texts)
