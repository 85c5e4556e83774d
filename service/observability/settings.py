"""The instrumentation's settings: one object, read from SERVICE_* environment variables.

`instrument(app)` (service/instrument.py) and the HTTP protocol it runs under (service/protocol.py) read these;
the prediction service's own settings (service/settings.py) extend them, so one variable means one thing whether
it reaches our service or anyone's app that calls `instrument(app)`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AnyHttpUrl, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contract.admission import default_max_queue_delay_ms

LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class InstrumentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SERVICE_", protected_namespaces=())

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port.")
    log_level: LogLevel = Field("info", description="Lowest level logged.")
    instrumentation: bool = Field(
        True,
        description="Request metrics, request log lines and traces (and the service's model signals); `false` "
        "turns them all off.",
    )
    trace_request_details: bool = Field(
        False,
        description="Put the query string and the client's address in server spans; off by default: they can "
        "identify a person.",
    )
    trace_sample_ratio: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Share of requests traced (a request whose propagation headers, `traceparent` by default, name "
        "a valid parent follows its parent's decision); unset: `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` "
        "decide.",
    )
    otlp_endpoint: AnyHttpUrl | None = Field(
        None,
        description="OTLP/HTTP collector to send traces to (its base URL: spans go to `/v1/traces` there); unset: "
        "the `OTEL_EXPORTER_OTLP_*` and `OTEL_TRACES_EXPORTER` variables decide; no exporter: no tracing.",
    )
    metrics_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="Serve /metrics on this port (same host) instead of the API's; unset: on the API port.",
    )
    max_body_bytes: int = Field(65536, ge=1024, description="Largest request body accepted (413 above).")
    max_url_bytes: int = Field(4096, ge=256, description="Longest request target, path and query (414 above).")
    max_header_bytes: int = Field(
        16384, ge=1024, description="Largest request head: request line and headers together (431 above)."
    )
    max_headers: int = Field(64, ge=16, description="Most request header fields (431 above).")
    max_queue_delay_ms: float | None = Field(
        None,
        ge=0,
        description="Longest a prediction may wait in a worker before it starts; over it, 503 with Retry-After at "
        "once. Unset: half the strictest latency SLO threshold (50 ms); 0: no shedding by time.",
    )
    header_timeout_seconds: float = Field(
        5.0, gt=0, description="Time a connection has to send a request head (first request: from the connect); 408."
    )
    body_timeout_seconds: float = Field(
        10.0, gt=0, description="Time a request's body has to arrive after its head; 408 (it is not admitted before)."
    )
    max_connections: int = Field(
        1000, ge=1, description="Open connections per worker; one more is closed as soon as it is accepted."
    )
    retry_after_seconds: int = Field(1, ge=0, description="Retry-After of a shed (503) response, seconds.")

    @property
    def queue_delay_limit_seconds(self) -> float:
        """The admission bound in seconds, 0 for none (the default derived from the SLO when unset)."""
        ms = default_max_queue_delay_ms() if self.max_queue_delay_ms is None else self.max_queue_delay_ms
        return ms / 1000
