"""Metric names and label sets: what the service and the load generator expose, and the rules,
dashboards and tests read. The metric objects themselves (help text, buckets) are defined once where
they are measured: service/observability/metrics.py and loadgen/metrics.py.
"""

from __future__ import annotations

# The load generator's side, the Metric record and le_text are defined in common/metrics.py (the load generator
# reads them there, without this package) and re-exported here: every other part reads one contract.
from common.metrics import LOADGEN_DROPPED as LOADGEN_DROPPED
from common.metrics import LOADGEN_IN_FLIGHT as LOADGEN_IN_FLIGHT
from common.metrics import LOADGEN_JOB as LOADGEN_JOB
from common.metrics import LOADGEN_REQUEST_DURATION as LOADGEN_REQUEST_DURATION
from common.metrics import LOADGEN_REQUESTS as LOADGEN_REQUESTS
from common.metrics import LOADGEN_SCHEDULED as LOADGEN_SCHEDULED
from common.metrics import LOADGEN_SENT as LOADGEN_SENT
from common.metrics import LOADGEN_TARGET_RATE as LOADGEN_TARGET_RATE
from common.metrics import Metric as Metric
from common.metrics import le_text as le_text

#: Prometheus's `job` label of the service: the scrape configs set it, the rules and dashboards select on it.
SERVICE_JOB = "service"


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
