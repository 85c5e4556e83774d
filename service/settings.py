"""The service's settings: one object, read from SERVICE_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from contract.routes import MODEL_NAME
from service.faults import FaultConfig
from service.observability.settings import InstrumentSettings

#: Where `python -m service.train` writes and the service reads, relative to the checkout.
DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "models" / MODEL_NAME


class ServiceSettings(InstrumentSettings):
    """The instrumentation's settings (`InstrumentSettings`, the same SERVICE_* variables) and the service's own."""

    model_config = SettingsConfigDict(env_prefix="SERVICE_", protected_namespaces=())

    workers: int = Field(1, ge=1, description="Worker processes (uvicorn).")
    model_dir: Path = Field(DEFAULT_MODEL_DIR, description="Folder of trained model versions.")
    model_version: str = Field("latest", description="Version to serve; `latest` follows the pointer file.")
    max_batch_size: int = Field(256, ge=1, description="Most records in one /v1/predict/batch request.")
    max_validation_errors: int = Field(
        20, ge=1, description="Most validation errors a 422 answer and its log line list (the rest are counted)."
    )
    log_inputs: bool = Field(
        False,
        description="Log the request's input record(s) and predicted charges; off by default: personal health data.",
    )
    model_signal_min_count: int = Field(
        20,
        ge=1,
        description="Fewest records folded into the model's input and prediction metrics at once, so that "
        "no request can be singled out.",
    )
    backlog: int = Field(
        1024, ge=1, description="Connections the kernel holds for a worker until it accepts them (listen backlog)."
    )
    accepts_per_turn: int = Field(
        16,
        ge=1,
        le=256,
        description="Connections a worker accepts per event-loop turn at most (libuv accepts one per listening "
        "handle; the worker listens on the socket this many times). One worker only: with several, 1.",
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

    @model_validator(mode="after")
    def _token_from_file(self) -> ServiceSettings:
        """A secret kept out of the environment (where `ps e`, `docker inspect` and crash reports show it)."""
        if self.admin_token_file is not None:
            try:
                self.admin_token = self.admin_token_file.read_text().strip()
            except OSError as exc:
                raise ValueError(f"admin_token_file: cannot read {self.admin_token_file}: {exc.strerror}") from None
        return self
