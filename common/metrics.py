"""The load generator's metric names and label sets (the rules, dashboards and tests read them through
contract.metrics, which re-exports this beside the service's), and how a bucket boundary is written.

The metric objects themselves (help text, buckets) are defined once where they are measured: loadgen/metrics.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Prometheus's `job` label of the load generator: the scrape configs set it, the rules and dashboards select on it.
LOADGEN_JOB = "loadgen"


@dataclass(frozen=True)
class Metric:
    name: str
    labels: tuple[str, ...] = ()


def le_text(bound: float) -> str:
    """A bucket boundary as the Prometheus client writes its `le` label ("1.0", "0.005", "+Inf").

    Label matching is on strings, so a rule or a test that reads one bucket must spell it exactly so.
    The client writes Go's format, which switches to exponents from 1e6 on; no boundary of ours is that
    large, so such a bound is refused rather than formatted by a second rule.
    """
    if bound == math.inf:
        return "+Inf"
    if not abs(bound) < 1e6:
        raise ValueError(f"{bound}: no bucket boundary of ours is this large (Go would write an exponent)")
    return repr(float(bound))


# --- the load generator (client side) -----------------------------------------------------------------
#: `route`: the workload's request name (its path unless named); `outcome`: a status code, a transport error
#: kind (loadgen/http/errors.py) or `check` (an answer that failed its check, loadgen/checks.py).
LOADGEN_REQUEST_DURATION = Metric("loadgen_request_duration_seconds", ("route",))
LOADGEN_REQUESTS = Metric("loadgen_requests_total", ("route", "outcome"))
LOADGEN_SCHEDULED = Metric("loadgen_scheduled_total")
LOADGEN_SENT = Metric("loadgen_sent_total")
LOADGEN_DROPPED = Metric("loadgen_dropped_total")
LOADGEN_IN_FLIGHT = Metric("loadgen_in_flight")
LOADGEN_TARGET_RATE = Metric("loadgen_target_requests_per_second")
