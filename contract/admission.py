"""The admission bound's default, derived from the strictest latency SLO.

A prediction predicted to wait in a worker longer than `max_queue_delay` is answered 503 at once, and one that
really waited past the threshold the bound is a share of, at its start (service/admission.py). Unset, the bound
is a share of the strictest latency threshold of the SLO spec
(prometheus/slo.yaml): the rest of that threshold is for the time the request may spend before the
worker sees it (in the kernel, at most one turn of the event loop, which admission keeps about as short
as the bound) and for the service time itself. The threshold is stated here once for the service (which
may not read the spec); the dashboard generator refuses to run when the spec's strictest threshold differs.
"""

from __future__ import annotations

#: The strictest latency SLO threshold of prometheus/slo.yaml, seconds (generators/grafana/service.py checks it).
STRICTEST_LATENCY_SLO_SECONDS = 0.1
#: The share of that threshold a request may wait in the worker's queue before it is shed.
QUEUE_DELAY_SHARE = 0.5


def default_max_queue_delay_ms() -> float:
    return STRICTEST_LATENCY_SLO_SECONDS * QUEUE_DELAY_SHARE * 1000
