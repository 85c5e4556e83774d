"""Pass/fail thresholds in k6's syntax, checked against a run's summary.

    p(99)<100ms   p(90)<=0.5s   avg<50   max<2s   med<20ms
    error_rate<0.001   rps>5   dropped_rate==0   requests>=1000

Latency values take ms, s or us (a bare number is milliseconds, as in k6). `error_rate` is
(transport errors + 5xx) / finished requests: 4xx answers to the deliberate invalid share are not
errors. `rps` is finished requests per second of the run; `dropped_rate` is dropped / scheduled.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from slo.thresholds import k6_thresholds

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, ">=": operator.ge, "==": operator.eq, "!=": operator.ne, "<": operator.lt, ">": operator.gt,
}  # fmt: skip
_UNIT_MS = {"ms": 1.0, "s": 1000.0, "us": 0.001, "µs": 0.001, "": 1.0}
_LATENCY = {"avg", "min", "med", "max"}
_PLAIN = {"error_rate", "rps", "dropped_rate", "requests"}
_SYNTAX = re.compile(
    r"^\s*(?P<metric>p\(\s*(?P<pct>\d+(?:\.\d+)?)\s*\)|[a-z_]+)\s*(?P<op><=|>=|==|!=|<|>)\s*"
    r"(?P<value>\d+(?:\.\d+)?(?:e-?\d+)?)\s*(?P<unit>ms|s|us|µs)?\s*$"
)


@dataclass(frozen=True)
class Threshold:
    text: str
    metric: str  # "p(99)", "avg", "error_rate", ...
    op: str
    value: float  # milliseconds for latency metrics
    percentile: float | None = None

    def check(self, values: Mapping[str, float], percentile_ms: Callable[[float], float]) -> tuple[bool, float]:
        """(passed, actual value) against a run's `values` (avg, error_rate, rps, ...) and percentiles."""
        actual = percentile_ms(self.percentile) if self.percentile is not None else values[self.metric]
        return _OPS[self.op](actual, self.value), actual


def parse(text: str) -> Threshold:
    m = _SYNTAX.match(text)
    if not m:
        raise ValueError(f"bad threshold {text!r}: expected e.g. 'p(99)<100ms', 'error_rate<0.001', 'rps>5'")
    metric, unit, value = m["metric"], m["unit"] or "", float(m["value"])
    if m["pct"] is not None:
        pct = float(m["pct"])
        if not 0 <= pct <= 100:
            raise ValueError(f"bad threshold {text!r}: percentile out of 0-100")
        return Threshold(text.strip(), f"p({m['pct']})", m["op"], value * _UNIT_MS[unit], pct)
    if metric in _LATENCY:
        return Threshold(text.strip(), metric, m["op"], value * _UNIT_MS[unit])
    if metric in _PLAIN:
        if unit:
            raise ValueError(f"bad threshold {text!r}: {metric} takes no unit")
        return Threshold(text.strip(), metric, m["op"], value)
    known = ", ".join(["p(N)", *sorted(_LATENCY), *sorted(_PLAIN)])
    raise ValueError(f"bad threshold {text!r}: unknown metric {metric!r} (known: {known})")


def from_slo(path: Path | str) -> list[str]:
    """The thresholds the SLO spec implies (one per objective), so the load test and the alerts agree."""
    return list(k6_thresholds(path))
