"""Fault injection for alert drills: extra latency and HTTP 500s on chosen routes, on purpose.

Faults come from SERVICE_FAULTS at start and from the token-guarded `POST /admin/faults`
(`Authorization: Bearer <SERVICE_ADMIN_TOKEN>`; the endpoint answers 404 when no token is set,
so a forgotten drill endpoint cannot be found in production). `service.fault_injection` applies
them, after load shedding (service/app.py) so that injected latency holds a prediction slot as real
slowness would, and inside the observability middleware, so every injected fault is counted in
`service_faults_injected_total{route,kind}` and marked `fault` in the request's log line.
With several workers the faults are shared through a file beside the multiprocess metrics, so a
drill's `POST /admin/faults` reaches every worker (within `Faults.CHECK_EVERY` seconds).
"""

from __future__ import annotations

import os
import random
import secrets
import time
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from contract import routes
from service.observability.logging import logger
from service.observability.routes import route_templates

Rate = Annotated[float, Field(ge=0.0, le=1.0)]
Seconds = Annotated[float, Field(ge=0.0, le=60.0)]


class RouteFaults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    error_rate: Rate = Field(0.0, description="Fraction of requests answered HTTP 500.")
    latency_rate: Rate = Field(0.0, description="Fraction of requests delayed.")
    latency_seconds: Seconds = Field(0.0, description="Fixed delay added to a delayed request.")
    latency_jitter_seconds: Seconds = Field(0.0, description="Uniform random extra delay, 0 to this.")


#: Routes that must keep working whatever a drill does: the endpoint that sets and clears faults (a fault on it
#: would lock the drill out until a restart), the probes (a fault would take the pod out of rotation or get it
#: killed) and the scrape (the SLOs would go blind exactly when they must see the drill).
UNFAULTABLE: frozenset[str] = frozenset(
    {
        routes.ADMIN_FAULTS,
        routes.HEALTHZ,
        routes.READYZ,
        routes.METRICS,
        "/docs",
        "/openapi.json",
        "/docs/oauth2-redirect",
        "/redoc",
    }
)


class FaultConfig(BaseModel):
    """Faults by route template; `{"routes": {}}` clears them all."""

    model_config = ConfigDict(extra="forbid")

    routes: dict[str, RouteFaults] = Field(default_factory=dict)

    @field_validator("routes")
    @classmethod
    def _not_unfaultable(cls, value: dict[str, RouteFaults]) -> dict[str, RouteFaults]:
        refused = sorted(set(value) & UNFAULTABLE)
        if refused:
            raise ValueError(f"cannot inject faults on {refused}: the admin endpoint, probes and /metrics stay up")
        return value


class Faults:
    """The faults in force; with `shared` (a file), the same in every worker of the service.

    Each worker re-reads the file when its modification time changes, looking at most every
    CHECK_EVERY seconds: one clock read per request on the hot path.
    """

    CHECK_EVERY = 0.5

    def __init__(self, config: FaultConfig | None = None, shared: Path | None = None) -> None:
        self._config = config or FaultConfig()
        self._shared = shared
        self._seen: int | None = None
        self._next_check = 0.0
        if shared is not None and not shared.exists():  # the first worker up publishes SERVICE_FAULTS
            self.config = self._config

    @property
    def config(self) -> FaultConfig:
        if self._shared is not None and time.monotonic() >= self._next_check:
            self._reload(self._shared)
        return self._config

    @config.setter
    def config(self, config: FaultConfig) -> None:
        self._config = config
        if self._shared is not None:
            staging = self._shared.with_suffix(f".{os.getpid()}.tmp")
            staging.write_text(config.model_dump_json())
            staging.replace(self._shared)  # atomic: no worker reads half a file

    def _reload(self, shared: Path) -> None:
        self._next_check = time.monotonic() + self.CHECK_EVERY
        try:
            mtime = shared.stat().st_mtime_ns
            if mtime != self._seen:
                self._config, self._seen = FaultConfig.model_validate_json(shared.read_text()), mtime
        except (OSError, ValueError):
            pass  # keep the faults in force: a drill must not crash the service

    def draw(self, route: str) -> tuple[float, bool]:
        """For one request: (seconds of latency to add, whether to answer 500)."""
        fault = self.config.routes.get(route)
        if fault is None:
            return 0.0, False
        delay = 0.0
        if fault.latency_rate and random.random() < fault.latency_rate:
            delay = fault.latency_seconds + random.random() * fault.latency_jitter_seconds
        return delay, bool(fault.error_rate and random.random() < fault.error_rate)

    @property
    def active(self) -> bool:
        return bool(self.config.routes)


def _authorized(request: Request) -> None:
    token: str = request.app.state.settings.admin_token
    if not token:
        raise HTTPException(404, "Not Found")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    if not secrets.compare_digest(given.encode(), token.encode()):
        raise HTTPException(403, "wrong token")


router = APIRouter(dependencies=[Depends(_authorized)], include_in_schema=False)


@router.get(routes.ADMIN_FAULTS)
async def get_faults(request: Request) -> FaultConfig:
    faults: Faults = request.app.state.faults
    return faults.config


@router.post(routes.ADMIN_FAULTS)
async def set_faults(config: FaultConfig, request: Request) -> FaultConfig:
    known = set(route_templates(request.app.routes))
    unknown = sorted(set(config.routes) - known)
    if unknown:
        raise HTTPException(422, f"routes: unknown route template(s) {unknown}")
    faults: Faults = request.app.state.faults
    faults.config = config
    logger().warning("faults set", faults=config.model_dump()["routes"])
    return config
