"""The local stack's settings: one object, read from STACK_* environment variables (`python -m stack up`'s
--target, --metrics, --spec and --scenario set the same fields).

Every address is loopback, a target's too: the local stack is a soak test on this machine, never a load on
anything else.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contract.durations import parse_duration
from slo.windows import prom_duration

ROOT = Path(__file__).resolve().parents[1]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


def loopback_url(url: str) -> str:
    """An http(s) URL on a loopback host with a valid port, or a ValueError saying what is wrong with it."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{url} is not an http:// or https:// URL")
    try:
        parts.port  # noqa: B018 (parsing the port raises on a bad one)
    except ValueError:
        raise ValueError(f"{url} has a bad port (1-65535)") from None
    if not parts.hostname or not is_loopback(parts.hostname):
        raise ValueError(f"{url} is not on a loopback address (127.0.0.1, ::1, localhost): the stack loads only here")
    return url


class StackSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STACK_")

    host: str = Field("127.0.0.1", description="Loopback address every process listens on.")
    service_port: int = Field(8000, ge=1, le=65535, description="Port of the prediction service.")
    service_workers: int = Field(2, ge=1, description="Worker processes of the service (SERVICE_WORKERS).")
    loadgen_port: int = Field(9100, ge=1, le=65535, description="Metrics port of the loadgen daemon.")
    loadgen_scenario: Path = Field(
        Path("loadgen/scenarios/steady.yaml"), description="Scenario file the loadgen daemon plays."
    )
    prometheus_port: int = Field(9090, ge=1, le=65535, description="Port of Prometheus.")
    alertmanager_port: int = Field(9093, ge=1, le=65535, description="Port of Alertmanager.")
    prometheus_bin: Path = Field(Path("/usr/bin/prometheus"), description="Prometheus binary (Debian's).")
    alertmanager_bin: Path = Field(
        Path("/usr/bin/prometheus-alertmanager"), description="Alertmanager binary (Debian's)."
    )
    rules_dir: Path = Field(
        Path("prometheus/generated/rules"), description="Prometheus rule files (generated from the spec)."
    )
    scrape_interval: str = Field("15s", description="Prometheus scrape and rule evaluation interval.")
    alertmanager_config: Path = Field(Path("prometheus/alertmanager.yml"), description="Alertmanager config.")
    slo_spec: Path = Field(Path("prometheus/slo.yaml"), description="SLO spec (Sloth format) the report reads.")
    run_dir: Path = Field(Path("run"), description="Rendered configs and data folders (git-ignored).")
    ready_timeout: float = Field(90.0, gt=0, description="Seconds to wait for every process to be ready.")
    status_refresh: float = Field(
        2.0, gt=0, description="Seconds between two refreshes of the live status (on a terminal)."
    )
    status_interval: float = Field(
        10.0, gt=0, description="Seconds between two status summary lines off a terminal (a file, a pipe)."
    )
    target: str | None = Field(
        None,
        description="Base URL of a service the stack does not run (http(s), loopback): no service process, the "
        "loadgen loads it, the rules come from the spec.",
    )
    target_metrics: str | None = Field(
        None, description="With a target: its Prometheus metrics URL (any scheme, path, port), scraped as job service."
    )
    rules_shrink: float = Field(
        1.0, ge=1, description="With a target: divide the rules' windows by this (drills: 60 makes 5m 5s)."
    )

    @field_validator("scrape_interval")
    @classmethod
    def _duration(cls, value: str) -> str:
        prom_duration(parse_duration(value))  # a Prometheus duration of whole milliseconds, or a clear error
        return value

    @field_validator("host")
    @classmethod
    def _loopback(cls, value: str) -> str:
        if not is_loopback(value):
            raise ValueError(f"{value} is not a loopback address: the local stack stays on this machine")
        return value

    @field_validator("target", "target_metrics")
    @classmethod
    def _loopback_url(cls, value: str | None) -> str | None:
        if value is not None:
            loopback_url(value)
        return value

    @model_validator(mode="after")
    def _metrics_of_a_target(self) -> StackSettings:
        if self.target_metrics is not None and self.target is None:
            raise ValueError("STACK_TARGET_METRICS (--metrics) is a target's metrics: give STACK_TARGET (--target) too")
        return self

    def path(self, value: Path) -> Path:
        """A setting's path made absolute against the repository root (the processes run from there)."""
        return value if value.is_absolute() else ROOT / value

    def rate_windows(self) -> tuple[float, float]:
        """The status's rate window (a minute, or four scrapes when they are further apart) and the shortest
        it may shrink to while the stack is younger than that (two scrapes: a rate needs two samples)."""
        scrape = parse_duration(self.scrape_interval)
        return max(60.0, 4 * scrape), 2 * scrape

    def url(self, port: int) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{port}"
