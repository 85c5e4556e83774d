"""A scenario: what load to send (profile, arrivals, the workload: which requests, bounds), from YAML or flags."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from loadgen import thresholds
from loadgen.http.fast import IDLE_SECONDS
from loadgen.schedule import Duration, Profile, profile_length
from loadgen.workload import Workload, inline, validate_workload

SCENARIOS_DIR = Path(__file__).parent / "scenarios"

#: A run with neither a duration, a request count nor a finite profile stops after this long.
DEFAULT_RUN_SECONDS = 30.0
#: The workload of a scenario that names none: this project's service, single predictions (loadgen/workloads/).
DEFAULT_WORKLOAD = "insurance-predict"
#: The daemon's workload without a scenario: this project's service, its three prediction routes 8:1:1.
DAEMON_WORKLOAD = "insurance"


class Scenario(BaseModel):
    """Every knob of the load; the YAML files in loadgen/scenarios/ are instances of it."""

    model_config = ConfigDict(extra="forbid")

    description: str = ""
    profile: Profile
    arrivals: Literal["constant", "poisson"] = "constant"
    duration: Duration | None = Field(None, description="run: stop scheduling after this long")
    requests: int | None = Field(None, ge=1, description="run: stop after scheduling this many requests")
    workload: Workload = Field(
        DEFAULT_WORKLOAD,
        validate_default=True,
        description="the requests (loadgen.workload), or a workload file: a path relative to the scenario file, "
        "or a name in loadgen/workloads/",
    )
    max_in_flight: int = Field(1000, ge=1, description="requests due beyond this many in flight are dropped")
    max_connections: int | None = Field(
        None,
        ge=1,
        description="bound on open connections (a load balancer's pool): a request finding none free waits for one, "
        "the wait counted in its latency and its timeout; none: a connection for every request that finds none idle",
    )
    timeout: Duration = Field(10.0, gt=0, description="per-request timeout")
    idle_timeout: Duration = Field(
        IDLE_SECONDS, gt=0, description="longest reuse of an idle connection (less if the server's Keep-Alive says so)"
    )
    seed: int | None = None
    thresholds: list[str] = Field(
        default_factory=list, description="run: k6-style thresholds, added to the --threshold flags"
    )

    @field_validator("thresholds")
    @classmethod
    def _thresholds_parse(cls, texts: list[str]) -> list[str]:
        for text in texts:
            thresholds.parse(text)  # a bad one says which and why
        return texts

    @field_validator("workload", mode="before")
    @classmethod
    def _inline(cls, ref: object) -> object:
        """A file reference read (relative to the working directory here; `load` resolves a scenario file's
        own references against its directory first)."""
        return inline(ref, Path.cwd())

    @field_validator("workload")
    @classmethod
    def _workload(cls, requests: Workload) -> Workload:
        return validate_workload(requests)

    def run_length(self) -> float | None:
        """Seconds a bounded run lasts: the duration, else the profile's own end, else the default
        (None when only a request count bounds it)."""
        if self.duration is not None:
            return self.duration
        length = profile_length(self.profile)
        if length is not None:
            return length
        return None if self.requests else DEFAULT_RUN_SECONDS


def load(path: Path | str) -> Scenario:
    """Read a scenario file; a bare name ('steady') means loadgen/scenarios/<name>.yaml."""
    path = Path(path)
    if not path.exists() and not path.suffix and (SCENARIOS_DIR / f"{path}.yaml").exists():
        path = SCENARIOS_DIR / f"{path}.yaml"
    doc = yaml.safe_load(path.read_text())
    if isinstance(doc, dict):  # its workload's files are relative to the scenario file
        doc["workload"] = inline(doc.get("workload", DEFAULT_WORKLOAD), path.parent)
    return Scenario.model_validate(doc)
