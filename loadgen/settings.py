"""The load generator's settings: one object, read from LOADGEN_* environment variables.

The daemon takes everything from here; `python -m loadgen run` takes its target from here too
unless --target is given (a scenario file or flags say the rest).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from loadgen.http.fast import IDLE_SECONDS

LogLevel = Literal["debug", "info", "warning", "error"]


def check_target(url: str) -> str:
    """The target as given, or a ValueError saying what is wrong with it (before any request is sent)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (parsing the port raises on a bad one)
    except ValueError as exc:
        raise ValueError(f"bad target {url!r}: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"bad target {url!r}: give an http:// or https:// base URL (e.g. http://127.0.0.1:8000)")
    if not parts.hostname:
        raise ValueError(f"bad target {url!r}: no host name")
    return url


class LoadgenSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOADGEN_")

    target: str = Field(
        "http://127.0.0.1:8000", description="Base URL of the service under load (http:// or https://)."
    )
    metrics_host: str = Field("127.0.0.1", description="Address the daemon's /metrics listens on.")
    metrics_port: int = Field(9100, ge=0, le=65535, description="Port of the daemon's /metrics.")
    scenario: Path | None = Field(
        None, description="Daemon: scenario YAML (or a name in loadgen/scenarios/); unset: constant `RATE`."
    )
    rate: float = Field(5.0, ge=0, description="Daemon without a scenario: requests per second (Poisson arrivals).")
    workload: Path | None = Field(
        None,
        description="Daemon without a scenario: workload file (or a name in loadgen/workloads/); unset: "
        "`insurance`, this project's service (its three prediction routes).",
    )
    invalid_fraction: float = Field(
        0.01,
        ge=0,
        le=1,
        description="Daemon without a scenario: the `invalid_fraction` option of the workload's "
        "body generators that have one (the insurance workload's share of requests with one invalid record).",
    )
    max_in_flight: int = Field(200, ge=1, description="Daemon without a scenario: in-flight bound (above: dropped).")
    max_connections: int | None = Field(
        None, ge=1, description="Daemon without a scenario: bound on open connections (unset: none)."
    )
    timeout: float = Field(10.0, gt=0, description="Daemon without a scenario: per-request timeout, seconds.")
    idle_timeout: float = Field(
        IDLE_SECONDS, gt=0, description="Daemon without a scenario: longest reuse of an idle connection, seconds."
    )
    drain_seconds: float = Field(15.0, ge=0, description="On SIGTERM/SIGINT, longest wait for in-flight requests.")
    client: Literal["auto", "fast", "aiohttp"] = Field(
        "auto", description="HTTP client: `auto` (built-in fast client for http://, aiohttp otherwise)."
    )
    rate_split: int = Field(
        1, ge=1, description="Replicas sharing the scenario's rate: each one plays 1/`RATE_SPLIT` of it (Kubernetes)."
    )
    workers: int = Field(
        1, ge=1, description="Daemon: worker processes sharing the schedule (steady traffic needs one)."
    )
    log_level: LogLevel = Field("info", description="Lowest level logged (daemon).")

    @field_validator("target")
    @classmethod
    def _target(cls, url: str) -> str:
        return check_target(url)
