"""Pass/fail thresholds in k6's syntax, checked against a run's summary.

    p(99)<100ms   p(90)<=0.5s   avg<50   max<2s   med<20ms
    error_rate<0.001   failed_rate==0   rps>5   dropped_rate==0   requests>=1000
    max(rps)>=5   min(rps)>=1   max(p(99))<200ms

Latency values take ms, s or us (a bare number is milliseconds, as in k6) and read the requests that did
not fail (k6's `expected_response:true`): a refused connection is not a fast answer. `error_rate` is
(transport errors + failed checks + 5xx) / finished requests: 4xx answers to the deliberate invalid share
are not errors. `failed_rate` is k6's `http_req_failed` and Locust's failure: transport errors, failed
checks and every status >= 400, 4xx included. `rps` is finished requests per second of the run;
`max(rps)` and `min(rps)` the busiest and the quietest whole second of the schedule; `max(p(N))` the
worst second's p(N) (N: 50, 90, 99). `dropped_rate` is dropped / scheduled; unless a threshold on it is
given, DEFAULT_DROPPED applies: the numbers of a generator that could not keep its schedule describe the
generator, not the target.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, ">=": operator.ge, "==": operator.eq, "!=": operator.ne, "<": operator.lt, ">": operator.gt,
}  # fmt: skip
_UNIT_MS = {"ms": 1.0, "s": 1000.0, "us": 0.001, "µs": 0.001, "": 1.0}
_LATENCY = {"avg", "min", "med", "max"}
_PLAIN = {"error_rate", "failed_rate", "rps", "dropped_rate", "requests", "max(rps)", "min(rps)"}
#: Percentiles kept for every second of a run (recorder.Point), so `max(p(N))` can read the worst one.
SECOND_PERCENTILES = (50.0, 90.0, 99.0)
#: Applied unless a threshold on dropped_rate is given: more than 1% of the schedule dropped fails the run.
DEFAULT_DROPPED = "dropped_rate<=0.01"
_SYNTAX = re.compile(
    r"^\s*(?P<metric>p\(\s*(?P<pct>\d+(?:\.\d+)?)\s*\)|max\(\s*p\(\s*(?P<worst>\d+(?:\.\d+)?)\s*\)\s*\)"
    r"|(?:max|min)\(\s*rps\s*\)|[a-z_]+)\s*(?P<op><=|>=|==|!=|<|>)\s*"
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
        """(passed, actual value) against a run's `values` (avg, error_rate, rps, ...) and percentiles.

        A value that does not exist (NaN: latency when nothing was answered) fails whatever the operator."""
        actual = percentile_ms(self.percentile) if self.percentile is not None else values[self.metric]
        if math.isnan(actual):
            return False, actual
        return _OPS[self.op](actual, self.value), actual


def parse(text: str) -> Threshold:
    m = _SYNTAX.match(text)
    if not m:
        raise ValueError(f"bad threshold {text!r}: expected e.g. 'p(99)<100ms', 'error_rate<0.001', 'rps>5'")
    metric, unit, value = re.sub(r"\s+", "", m["metric"]), m["unit"] or "", float(m["value"])
    if m["worst"] is not None:
        if float(m["worst"]) not in SECOND_PERCENTILES:
            kept = ", ".join(f"p({p:g})" for p in SECOND_PERCENTILES)
            raise ValueError(f"bad threshold {text!r}: the worst second is kept for {kept} only")
        return Threshold(text.strip(), f"max(p({float(m['worst']):g}))", m["op"], value * _UNIT_MS[unit])
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
    known = ", ".join(["p(N)", "max(p(N))", *sorted(_LATENCY), *sorted(_PLAIN)])
    raise ValueError(f"bad threshold {text!r}: unknown metric {metric!r} (known: {known})")


def with_defaults(checks: Sequence[Threshold]) -> list[Threshold]:
    """The thresholds a run applies: the given ones, plus DEFAULT_DROPPED unless one is on dropped_rate."""
    if any(t.metric == "dropped_rate" for t in checks):
        return list(checks)
    return [*checks, parse(DEFAULT_DROPPED)]


def from_slo(path: Path | str) -> list[str]:
    """The thresholds the SLO spec implies (one per objective), so the load test and the alerts agree.
    (Imported here: only `--slo` needs the spec model.)"""
    from slo.thresholds import k6_thresholds

    return list(k6_thresholds(path))
