"""Metric names and label sets: what the service and the load generator expose, and the rules,
dashboards and tests read. The metric objects themselves (help text, buckets) are defined once where
they are measured: service/observability/metrics.py and loadgen/metrics.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Prometheus's `job` label of each side: the scrape configs set it, the rules and dashboards select on it.
SERVICE_JOB = "service"
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


# --- the service --------------------------------------------------------------------------------------
REQUEST_DURATION = Metric("http_server_request_duration_seconds", ("method", "route", "status_code"))
IN_FLIGHT = Metric("http_server_requests_in_flight")
SHED = Metric("http_server_shed_requests_total", ("route",))
#: Admission by time (service/admission.py): each admitted request's wait between its arrival in the worker
#: and its start, the bound it is held to, the requests not predicted because their client left or their
#: deadline passed, and the requests whose head or body did not arrive in time (408).
QUEUE_DELAY = Metric("http_server_queue_delay_seconds", ("route",))
ADMISSION_LIMIT = Metric("http_server_admission_max_queue_delay_seconds")
ABANDONED = Metric("http_server_abandoned_requests_total", ("route", "reason"))
READ_TIMEOUTS = Metric("http_server_read_timeouts_total", ("phase",))
#: `reason` values of ABANDONED, and `phase` values of READ_TIMEOUTS.
ABANDONED_REASONS = ("disconnect", "deadline")
READ_PHASES = ("head", "body")
INFERENCE_DURATION = Metric("model_inference_duration_seconds", ("kind",))
BATCH_SIZE = Metric("model_batch_size")
PREDICTED_CHARGES = Metric("model_predicted_charges_dollars")
INPUT_AGE = Metric("model_input_age_years")
INPUT_BMI = Metric("model_input_bmi")
INPUT_CHILDREN = Metric("model_input_children")
INPUT_CATEGORY = Metric("model_input_category_total", ("feature", "value"))
VALIDATION_ERRORS = Metric("model_validation_errors_total", ("field",))
MODEL_INFO = Metric("model_info", ("name", "version"))
READY = Metric("service_ready")
FAULTS_INJECTED = Metric("service_faults_injected_total", ("route", "kind"))

#: `field` values of VALIDATION_ERRORS besides the record's own fields.
VALIDATION_FIELDS_EXTRA = ("body", "records", "other")

# --- the load generator (client side) -----------------------------------------------------------------
LOADGEN_REQUEST_DURATION = Metric("loadgen_request_duration_seconds", ("route",))
LOADGEN_REQUESTS = Metric("loadgen_requests_total", ("route", "outcome"))
LOADGEN_SCHEDULED = Metric("loadgen_scheduled_total")
LOADGEN_SENT = Metric("loadgen_sent_total")
LOADGEN_DROPPED = Metric("loadgen_dropped_total")
LOADGEN_IN_FLIGHT = Metric("loadgen_in_flight")
LOADGEN_TARGET_RATE = Metric("loadgen_target_requests_per_second")
