"""The route table: every path the service answers, and which of them are predictions.

Prediction routes are what the SLOs are about: the service sheds and counts them, the load generator
sends to them by short name, and the SLO spec's route selector must match exactly these.
"""

from __future__ import annotations

import re

#: The served model's name, part of the original service's route.
MODEL_NAME = "insurance_charges_model"

PREDICT = "/v1/predict"
PREDICT_BATCH = "/v1/predict/batch"
PREDICT_ORIGINAL = f"/api/models/{MODEL_NAME}/prediction"
MODEL_INFO = "/v1/model"
HEALTHZ = "/healthz"
READYZ = "/readyz"
METRICS = "/metrics"
ADMIN_FAULTS = "/admin/faults"

#: Short name (as the load generator's route mix says it) -> prediction route, in one order.
PREDICTION_ROUTES_BY_NAME: dict[str, str] = {
    "single": PREDICT,
    "batch": PREDICT_BATCH,
    "original": PREDICT_ORIGINAL,
}
PREDICTION_ROUTES: tuple[str, ...] = tuple(PREDICTION_ROUTES_BY_NAME.values())

#: The `route` label of any path that matches no route (raw paths never become labels).
UNMATCHED = "unmatched"


def prediction_routes_regex() -> str:
    """The PromQL `route=~` value that selects exactly the prediction routes."""
    return "|".join(re.escape(route) for route in PREDICTION_ROUTES)
