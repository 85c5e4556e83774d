"""The request metrics of an instrumented app (`service.instrument`), defined once, and how /metrics renders them.

Names, labels and buckets are a contract with the SLO rules and the dashboards (see the README): labels are
bounded (the route template, never the raw path; a method outside the known set folds into `other`), and the
latency buckets contain every SLO threshold. They are the same for our service and for anyone's app that calls
`instrument(app)`: the `service` SLO preset and the dashboards read these names. The service's own model metrics
(inputs, predictions, validation errors) live apart, in service/model_metrics.py, so an instrumented app that is
not ours exposes none of them.

One worker: the default in-process registry, with exemplars (the trace id of sampled requests) in
the OpenMetrics output. Several workers: prometheus-client's multiprocess mode, switched on by
`PROMETHEUS_MULTIPROC_DIR`, which `python -m service` sets and wipes before the workers start.
prometheus-client picks its value class when it is first imported, so that variable must be set
before then. Multiprocess mode keeps no exemplars. How a scrape reads them: exposition.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.multiprocess import mark_process_dead

from contract import buckets
from contract import metrics as names
from service.observability import exposition as rendering
from service.observability.routes import METHODS

#: True in a worker of a multi-worker service (the variable prometheus-client itself looks at).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
MULTIPROCESS = MULTIPROC_ENV in os.environ

# `_created` series would double the series count for a value Prometheus does not use.
disable_created_metrics()

REQUEST_DURATION = Histogram(
    names.REQUEST_DURATION.name,
    "Time from the request's arrival to the end of its response, by route template and status code.",
    names.REQUEST_DURATION.labels,
    buckets=buckets.LATENCY_SECONDS,
)
IN_FLIGHT = Gauge(names.IN_FLIGHT.name, "Requests being served right now.", multiprocess_mode="livesum")
SHED = Counter(
    names.SHED.name,
    "Predictions answered 503 at once because they would have waited longer than the admission bound.",
    names.SHED.labels,
)
QUEUE_DELAY = Histogram(
    names.QUEUE_DELAY.name,
    "Time from a request's arrival (its body complete) to its start in the worker, by route template.",
    names.QUEUE_DELAY.labels,
    buckets=buckets.QUEUE_DELAY_SECONDS,
)
ADMISSION_LIMIT = Gauge(
    names.ADMISSION_LIMIT.name,
    "The admission bound: longest queue delay a prediction may have before it is shed; 0: no shedding by time.",
    multiprocess_mode="livemax",
)
ABANDONED = Counter(
    names.ABANDONED.name,
    "Requests not predicted because their client disconnected or their deadline (X-Request-Timeout) passed.",
    names.ABANDONED.labels,
)
READ_TIMEOUTS = Counter(
    names.READ_TIMEOUTS.name,
    "Requests answered 408 because their head or body did not arrive in time.",
    names.READ_TIMEOUTS.labels,
)
READY = Gauge(
    names.READY.name,
    "1 when the app has started (for the service: the model is loaded and warmed up; every live worker), else 0.",
    multiprocess_mode="livemin",
)
READY.set(0)
for _phase in names.READ_PHASES:
    READ_TIMEOUTS.labels(_phase)


def init_routes(predictions: Iterable[str]) -> None:
    """The series of the prediction routes that must exist from the start (at 0), so that rates and ratios have
    something to divide (`instrument` calls it with the app's prediction routes)."""
    for route in predictions:
        SHED.labels(route)
        QUEUE_DELAY.labels(route)
        for reason in names.ABANDONED_REASONS:
            ABANDONED.labels(route, reason)


# --- hot-path helpers -------------------------------------------------------------------------------
_duration_children: dict[tuple[str, str, int], Histogram] = {}


def request_duration(method: str, route: str, status_code: int) -> Histogram:
    """The labelled child, cached: `labels()` costs more than the observation itself."""
    if method not in METHODS:
        method = "other"
    key = (method, route, status_code)
    child = _duration_children.get(key)
    if child is None:
        child = _duration_children[key] = REQUEST_DURATION.labels(method, route, str(status_code))
    return child


def set_ready(ready: bool) -> None:
    READY.set(1 if ready else 0)


# --- exposition -------------------------------------------------------------------------------------
#: What folds buffered observations into the metrics (the service's model signals): called before every scrape of
#: this process and at a worker's exit.
FLUSHES: list[Callable[[], None]] = []
_SCRAPE_REGISTRY: CollectorRegistry | None = None


def flush() -> None:
    for flush_one in FLUSHES:
        flush_one()


def exposition(accept: str) -> tuple[bytes, str]:
    """The scrape body and its content type: OpenMetrics (with exemplars) if the scraper accepts it."""
    global _SCRAPE_REGISTRY
    if _SCRAPE_REGISTRY is None:
        _SCRAPE_REGISTRY = rendering.registry(supervisor=os.getppid())
    flush()
    return rendering.render(_SCRAPE_REGISTRY, accept)


def worker_exit() -> None:
    """A worker leaving: its buffered observations are flushed, its live gauges (in flight, ready, model
    info) stop counting at once."""
    flush()
    if MULTIPROCESS:
        mark_process_dead(os.getpid())
