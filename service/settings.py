"""The service's settings: one object, read from SERVICE_* environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contract.admission import default_max_queue_delay_ms
from contract.routes import MODEL_NAME
from service.faults import FaultConfig

#: Where `python -m service.train` writes and the service reads, relative to the checkout.
DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "models" / MODEL_NAME

LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SERVICE_", protected_namespaces=())

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port.")
    workers: int = Field(1, ge=1, description="Worker processes (uvicorn).")
    log_level: LogLevel = Field("info", description="Lowest level logged.")
    model_dir: Path = Field(DEFAULT_MODEL_DIR, description="Folder of trained model versions.")
    model_version: str = Field("latest", description="Version to serve; `latest` follows the pointer file.")
    max_batch_size: int = Field(256, ge=1, description="Most records in one /v1/predict/batch request.")
    max_body_bytes: int = Field(65536, ge=1024, description="Largest request body accepted (413 above).")
    max_validation_errors: int = Field(
        20, ge=1, description="Most validation errors a 422 answer and its log line list (the rest are counted)."
    )
    max_url_bytes: int = Field(4096, ge=256, description="Longest request target, path and query (414 above).")
    max_header_bytes: int = Field(
        16384, ge=1024, description="Largest request head: request line and headers together (431 above)."
    )
    max_headers: int = Field(64, ge=16, description="Most request header fields (431 above).")

    instrumentation: bool = Field(
        True, description="Request metrics, model signals, request log lines and traces; `false` turns them all off."
    )
    log_inputs: bool = Field(
        False,
        description="Log the request's input record(s) and predicted charges; off by default: personal health data.",
    )
    trace_request_details: bool = Field(
        False,
        description="Put the query string and the client's address in server spans; off by default: they can "
        "identify a person.",
    )
    model_signal_min_count: int = Field(
        20,
        ge=1,
        description="Fewest records folded into the model's input and prediction metrics at once, so that "
        "no request can be singled out.",
    )
    metrics_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="Serve /metrics on this port (same host) instead of the API's; unset: on the API port.",
    )
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
    backlog: int = Field(
        1024, ge=1, description="Connections the kernel holds for a worker until it accepts them (listen backlog)."
    )
    accepts_per_turn: int = Field(
        16,
        ge=1,
        le=256,
        description="Connections a worker accepts per event-loop turn at most (libuv accepts one per listening "
        "handle; the worker listens on the socket this many times).",
    )
    drain_seconds: float = Field(
        0.0, ge=0, description="After SIGTERM, serve on this long with /readyz answering 503, then shut down."
    )
    graceful_shutdown_seconds: int = Field(
        10,
        ge=0,
        description="Then wait this long at most for requests in progress; connections still "
        "sending a request are closed at once.",
    )
    retry_after_seconds: int = Field(1, ge=0, description="Retry-After of a shed (503) response, seconds.")
    admin_token: str = Field(
        "", description="Bearer token of /admin/faults; empty disables the endpoint (404).", repr=False
    )
    admin_token_file: Path | None = Field(
        None, description="File holding the admin token (a Docker or Kubernetes secret); read at start, wins over it."
    )
    faults: FaultConfig = Field(
        default_factory=FaultConfig,
        description='Faults injected from the start, JSON as POST /admin/faults takes: `{"routes": {...}}`.',
    )
    metrics_dir: Path | None = Field(
        None,
        description="Multiprocess metrics folder when workers > 1 (locked, wiped at start); unset: a temporary one, "
        "removed at exit.",
    )

    @property
    def queue_delay_limit_seconds(self) -> float:
        """The admission bound in seconds, 0 for none (the default derived from the SLO when unset)."""
        ms = default_max_queue_delay_ms() if self.max_queue_delay_ms is None else self.max_queue_delay_ms
        return ms / 1000

    @model_validator(mode="after")
    def _token_from_file(self) -> ServiceSettings:
        """A secret kept out of the environment (where `ps e`, `docker inspect` and crash reports show it)."""
        if self.admin_token_file is not None:
            try:
                self.admin_token = self.admin_token_file.read_text().strip()
            except OSError as exc:
                raise ValueError(f"admin_token_file: cannot read {self.admin_token_file}: {exc.strerror}") from None
        return self
