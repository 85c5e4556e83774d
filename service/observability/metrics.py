"""Every metric of the service, defined once, and how /metrics renders them.

Names, labels and buckets are a contract with the SLO rules and the dashboards (see the README):
labels are bounded (the route template, never the raw path; a validation error's field folds into
a fixed set), and the latency buckets contain every SLO threshold.

One worker: the default in-process registry, with exemplars (the trace id of sampled requests) in
the OpenMetrics output. Several workers: prometheus-client's multiprocess mode, switched on by
`PROMETHEUS_MULTIPROC_DIR`, which `python -m service` sets and wipes before the workers start.
prometheus-client picks its value class when it is first imported, so that variable must be set
before then. Multiprocess mode keeps no exemplars. How a scrape reads them: exposition.py.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.multiprocess import mark_process_dead

from contract import buckets
from contract import metrics as names
from contract.routes import PREDICTION_ROUTES
from contract.schemas import CATEGORIES, InsuranceRecord
from service.observability import exposition as rendering
from service.observability.routes import METHODS

#: True in a worker of a multi-worker service (the variable prometheus-client itself looks at).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
MULTIPROCESS = MULTIPROC_ENV in os.environ

RECORD_FIELDS = tuple(InsuranceRecord.model_fields)

# `_created` series would double the series count for a value Prometheus does not use.
disable_created_metrics()

# --- HTTP -------------------------------------------------------------------------------------------
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

# --- model ------------------------------------------------------------------------------------------
INFERENCE_DURATION = Histogram(
    names.INFERENCE_DURATION.name,
    "Time spent in the model itself (features to charges), per request.",
    names.INFERENCE_DURATION.labels,
    buckets=buckets.INFERENCE_SECONDS,
)
BATCH_SIZE = Histogram(names.BATCH_SIZE.name, "Records per batch request.", buckets=buckets.BATCH_SIZE)
PREDICTED_CHARGES = Histogram(
    names.PREDICTED_CHARGES.name, "Predicted yearly charges, USD, one per record.", buckets=buckets.CHARGES_DOLLARS
)
INPUT_AGE = Histogram(names.INPUT_AGE.name, "Input age of each scored record.", buckets=buckets.AGE_YEARS)
INPUT_BMI = Histogram(names.INPUT_BMI.name, "Input BMI of each scored record.", buckets=buckets.BMI)
INPUT_CHILDREN = Histogram(names.INPUT_CHILDREN.name, "Input children of each scored record.", buckets=buckets.CHILDREN)
INPUT_CATEGORY = Counter(
    names.INPUT_CATEGORY.name, "Scored records by value of each categorical input.", names.INPUT_CATEGORY.labels
)
VALIDATION_ERRORS = Counter(
    names.VALIDATION_ERRORS.name,
    'Invalid request fields: a record field, "body", "records", or "other".',
    names.VALIDATION_ERRORS.labels,
)
MODEL_INFO = Gauge(
    names.MODEL_INFO.name, "The served model: always 1.", names.MODEL_INFO.labels, multiprocess_mode="livemax"
)
READY = Gauge(
    names.READY.name,
    "1 when the model is loaded and warmed up (every live worker), else 0.",
    multiprocess_mode="livemin",
)

# --- fault injection --------------------------------------------------------------------------------
FAULTS_INJECTED = Counter(
    names.FAULTS_INJECTED.name, "Faults injected on purpose (alert drills).", names.FAULTS_INJECTED.labels
)

# Series that must exist from the start (at 0), so that rates and ratios have something to divide.
for _route in PREDICTION_ROUTES:
    SHED.labels(_route)
    QUEUE_DELAY.labels(_route)
    for _reason in names.ABANDONED_REASONS:
        ABANDONED.labels(_route, _reason)
    for _kind in ("latency", "error"):
        FAULTS_INJECTED.labels(_route, _kind)
for _field in (*RECORD_FIELDS, *names.VALIDATION_FIELDS_EXTRA):
    VALIDATION_ERRORS.labels(_field)
INFERENCE_SINGLE = INFERENCE_DURATION.labels("single")
INFERENCE_BATCH = INFERENCE_DURATION.labels("batch")
_CATEGORY = {
    (feature, value): INPUT_CATEGORY.labels(feature, value) for feature, vs in CATEGORIES.items() for value in vs
}
READY.set(0)
for _phase in names.READ_PHASES:
    READ_TIMEOUTS.labels(_phase)

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


def validation_field(field: str) -> str:
    """A validation error's field as a bounded label: `records.3.age` -> `age`, `income` -> `other`."""
    last = field.rsplit(".", 1)[-1]
    if last in RECORD_FIELDS:
        return last
    if field == "body":
        return "body"
    if field == "records" or (field.startswith("records.") and last.isdigit()):
        return "records"
    return "other"


def observe_batch(records: Sequence[InsuranceRecord], charges: Sequence[float], inference_seconds: float) -> None:
    """The model's signals of one batch request: its time and size now, its records through the buffer."""
    INFERENCE_BATCH.observe(inference_seconds)
    BATCH_SIZE.observe(len(records))
    SIGNALS.add_rows([(r.age, r.bmi, r.children, r.sex, r.smoker, r.region) for r in records], charges)


Row = tuple[int, float, int, str, bool, str]


class SignalBuffer:
    """The model's input and prediction signals, folded into the metrics in bulk, never fewer than `min_count`.

    Cost: eight metric updates a request (three inputs, three categories, the prediction, the inference
    time) cost more than the rest of the instrumentation; appending one tuple costs almost nothing.

    Privacy: the inputs and the prediction are personal health data. Folded in one at a time, a histogram
    whose count moves by one shows that request's age, BMI, children, sex, smoker, region and charges
    exactly. So the buffer folds rows only in groups of at least `min_count` (SERVICE_MODEL_SIGNAL_MIN_COUNT)
    and only whole groups: a scrape sees sums and bucket counts over at least that many records, whichever
    requests they came from. (Someone who can send requests, knows their own values and is alone with one
    other client could still subtract: where that matters, serve /metrics on its own port that only
    Prometheus reaches, SERVICE_METRICS_PORT.) At most `min_count - 1` records of a worker are held back;
    those left at the worker's exit are dropped, never folded in alone.

    The buffer is flushed when it holds `size` rows, before every scrape of this process, and by a timer
    every `FLUSH_SECONDS` (with several workers another worker may answer the scrape: it sees this one's
    signals that late).
    """

    def __init__(self, size: int = 256, min_count: int = 1) -> None:
        self.size = size
        self.min_count = min_count
        self.rows: list[Row] = []
        self.charges: list[float] = []
        self.seconds: list[float] = []

    def add(self, record: InsuranceRecord, charges: float, inference_seconds: float) -> None:
        self.rows.append((record.age, record.bmi, record.children, record.sex, record.smoker, record.region))
        self.charges.append(charges)
        self.seconds.append(inference_seconds)
        if len(self.rows) >= self.size:
            self.flush()

    def add_rows(self, rows: Sequence[Row], charges: Sequence[float]) -> None:
        """A batch's records (its inference time is observed apart: it is per request, not per record)."""
        self.rows.extend(rows)
        self.charges.extend(charges)
        if len(self.rows) >= self.size:
            self.flush()

    def flush(self) -> None:
        if not self.rows or len(self.rows) < self.min_count:
            return
        rows, charges, seconds = self.rows, self.charges, self.seconds
        self.rows, self.charges, self.seconds = [], [], []
        if seconds:
            _observe_many(INFERENCE_SINGLE, seconds)
        _observe_rows(rows, charges)


FLUSH_SECONDS = 1.0
SIGNALS = SignalBuffer()


def _observe_rows(rows: Sequence[Row], charges: Sequence[float]) -> None:
    ages, bmis, children, sexes, smokers, regions = zip(*rows, strict=True)
    _observe_many(INPUT_AGE, ages)
    _observe_many(INPUT_BMI, bmis)
    _observe_many(INPUT_CHILDREN, children)
    _observe_many(PREDICTED_CHARGES, charges)
    smoker_values = ["true" if s else "false" for s in smokers]
    for feature, values in (("sex", sexes), ("smoker", smoker_values), ("region", regions)):
        for value in CATEGORIES[feature]:
            if n := values.count(value):
                _CATEGORY[feature, value].inc(n)


def _observe_many(histogram: Histogram, values: Sequence[float]) -> None:
    """Observe a batch's values with one increment per bucket instead of one lock round per value.

    Uses the histogram's private `_upper_bounds`, `_buckets` and `_sum`, stable in prometheus-client for
    years; tests/unit/service/test_private_apis.py checks the result equals one `observe` per value.
    """
    bounds = histogram._upper_bounds
    counts = np.bincount(
        np.searchsorted(bounds, np.asarray(values, dtype=np.float64), side="left"), minlength=len(bounds)
    )
    histogram._sum.inc(float(np.sum(values)))
    for bucket, n in zip(histogram._buckets, counts.tolist(), strict=False):
        if n:
            bucket.inc(n)


def set_model(name: str, version: str) -> None:
    MODEL_INFO.labels(name, version).set(1)


def set_ready(ready: bool) -> None:
    READY.set(1 if ready else 0)


# --- exposition -------------------------------------------------------------------------------------
_SCRAPE_REGISTRY: CollectorRegistry | None = None


def exposition(accept: str) -> tuple[bytes, str]:
    """The scrape body and its content type: OpenMetrics (with exemplars) if the scraper accepts it."""
    global _SCRAPE_REGISTRY
    if _SCRAPE_REGISTRY is None:
        _SCRAPE_REGISTRY = rendering.registry(supervisor=os.getppid())
    SIGNALS.flush()
    return rendering.render(_SCRAPE_REGISTRY, accept)


def worker_exit() -> None:
    """A worker leaving: its buffered signals are flushed, its live gauges (in flight, ready, model
    info) stop counting at once."""
    SIGNALS.flush()
    if MULTIPROCESS:
        mark_process_dead(os.getpid())
