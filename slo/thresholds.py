"""k6-style thresholds from the SLO spec, for the load test (`python -m loadgen run --slo <spec>`).

The spec holds each objective once; the load test reads it here instead of restating it:

- an availability SLO (any SLI that is not a latency one) -> `error_rate<budget`
  (99.9 -> "error_rate<0.001": the share of failed requests, as the load generator counts them);
- a latency SLO (its SLI reads a histogram bucket, le=T) -> `p(objective)<T` in milliseconds
  (90% under 0.5 s -> "p(90)<500ms"; 99% under 0.1 s -> "p(99)<100ms").
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from slo.spec import SLOSpec, load_spec


def _plain(x: Decimal) -> str:
    """Decimal without exponent or trailing zeros: 0.0010 -> "0.001", 500.0 -> "500"."""
    return format(x.normalize(), "f")


def k6_threshold(slo: SLOSpec) -> str:
    le = slo.latency_threshold_seconds
    if le is None:
        return f"error_rate<{_plain(slo.error_budget)}"
    percentile = _plain(Decimal(repr(slo.objective)))
    millis = _plain(Decimal(repr(le)) * 1000)
    return f"p({percentile})<{millis}ms"


def k6_thresholds(spec_path: Path | str) -> list[str]:
    """One threshold per objective of the spec, in the spec's order. A load test measures from the client, so the
    server-side SLOs and their synthetic (client-side) twins give the same threshold: it is stated once."""
    return list(dict.fromkeys(k6_threshold(slo) for slo in load_spec(spec_path).slos))
