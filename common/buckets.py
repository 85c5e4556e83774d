"""The latency histogram's bucket boundaries, the same for the service and the load generator.

Latency SLO thresholds must be bucket boundaries (a histogram can only answer "how many under X" exactly at
its boundaries), so the buckets are dense around the SLO thresholds, 100 ms and 500 ms. The load generator
uses the same boundaries so client and server views line up (`contract.buckets` re-exports them beside the
service's other buckets).
"""

from __future__ import annotations

#: Request latency, seconds.
LATENCY_SECONDS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.06, 0.075, 0.09,
    0.1, 0.11, 0.125, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45,
    0.5, 0.55, 0.6, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0,
)  # fmt: skip
