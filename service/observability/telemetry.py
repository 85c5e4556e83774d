"""What the app records beyond the answer, decided once at start and looked up by the endpoints."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Telemetry:
    """The endpoints' part of the instrumentation (app.state.telemetry): one look-up per request."""

    #: Model signals (metrics) and the endpoint's fields in the request log line (SERVICE_INSTRUMENTATION).
    record: bool
    #: Traces are exported, so a sampled request's inference gets its child span.
    tracing: bool
    #: The input records go in the log line (SERVICE_LOG_INPUTS): personal data, off by default.
    log_inputs: bool
