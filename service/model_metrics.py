"""The service's model metrics: inference time, batch sizes, inputs and predictions, validation errors, faults.

What the insurance model service records beyond the request metrics that every instrumented app has
(service/observability/metrics.py): an app that calls `instrument(app)` exposes none of these. Names and buckets
are a contract with the SLO rules and dashboards like the request metrics'; the categorical labels are bounded by
the contract's schema (a validation error's field folds into a fixed set).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from prometheus_client import Counter, Gauge, Histogram

from contract import buckets
from contract import metrics as names
from contract.routes import PREDICTION_ROUTES
from contract.schemas import CATEGORIES, InsuranceRecord
from service.observability import metrics

RECORD_FIELDS = tuple(InsuranceRecord.model_fields)

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

# --- fault injection --------------------------------------------------------------------------------
FAULTS_INJECTED = Counter(
    names.FAULTS_INJECTED.name, "Faults injected on purpose (alert drills).", names.FAULTS_INJECTED.labels
)

# Series that must exist from the start (at 0), so that rates and ratios have something to divide.
for _route in PREDICTION_ROUTES:
    for _kind in ("latency", "error"):
        FAULTS_INJECTED.labels(_route, _kind)
for _field in (*RECORD_FIELDS, *names.VALIDATION_FIELDS_EXTRA):
    VALIDATION_ERRORS.labels(_field)
INFERENCE_SINGLE = INFERENCE_DURATION.labels("single")
INFERENCE_BATCH = INFERENCE_DURATION.labels("batch")
_CATEGORY = {
    (feature, value): INPUT_CATEGORY.labels(feature, value) for feature, vs in CATEGORIES.items() for value in vs
}


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


metrics.FLUSHES.append(SIGNALS.flush)  # before every scrape and at a worker's exit
