"""What the dashboards need of the SLO spec (a view over prometheus/slo.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

# TODO(lead): import these from the rules generator once merged.
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
BURN_ALERTS = (
    ("page", 14.4, "1h", "5m"),
    ("page", 6.0, "6h", "30m"),
    ("ticket", 3.0, "1d", "2h"),
    ("ticket", 1.0, "3d", "6h"),
)


@dataclass(frozen=True)
class Slo:
    name: str
    objective: float
    description: str


@dataclass(frozen=True)
class Spec:
    service: str
    slos: tuple[Slo, ...]
    period: str = "30d"


def load(path: Path) -> Spec:
    raw = yaml.safe_load(path.read_text())
    return Spec(
        service=raw["service"],
        slos=tuple(Slo(s["name"], float(s["objective"]), s.get("description", "")) for s in raw["slos"]),
    )
