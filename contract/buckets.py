"""Histogram bucket boundaries, shared by the service, the load generator and the SLO generator.

Latency SLO thresholds must be bucket boundaries (a histogram can only answer "how many under
X" exactly at its boundaries), so the buckets are dense around the SLO thresholds, 100 ms and
500 ms. The load generator uses the same boundaries so client and server views line up.
"""

from __future__ import annotations

#: Request latency, seconds (defined in common/buckets.py, which the load generator reads without this package).
from common.buckets import LATENCY_SECONDS as LATENCY_SECONDS

#: Queue delay before a request starts, seconds: well under a millisecond when the worker keeps up,
#: up to the admission bound (service/admission.py) and beyond it when it does not.
QUEUE_DELAY_SECONDS: tuple[float, ...] = (0.0001, 0.00025, 0.0005, *LATENCY_SECONDS)

#: Model inference, seconds: microseconds for one row, up to milliseconds for a full batch.
INFERENCE_SECONDS: tuple[float, ...] = (
    0.000005, 0.00001, 0.00002, 0.00003, 0.00005, 0.000075, 0.0001, 0.00025, 0.0005,
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
)  # fmt: skip

#: Records per batch request (the default maximum is 256).
BATCH_SIZE: tuple[float, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)

#: Predicted yearly charges, USD: the training data spans about 1,100 to 64,000.
CHARGES_DOLLARS: tuple[float, ...] = (
    2000, 4000, 6000, 8000, 10000, 12500, 15000, 20000, 25000, 30000, 35000, 40000, 45000, 50000, 60000, 70000,
)  # fmt: skip

#: Numeric inputs, over the API's valid ranges.
AGE_YEARS: tuple[float, ...] = (20, 25, 30, 35, 40, 45, 50, 55, 60, 65)
BMI: tuple[float, ...] = (18.5, 20, 22.5, 25, 27.5, 30, 32.5, 35, 37.5, 40, 45, 50)
CHILDREN: tuple[float, ...] = (0, 1, 2, 3, 4, 5)
