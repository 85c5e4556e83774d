"""Scenarios: the shipped YAML files, their validation, and how long a run lasts."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from loadgen.scenario import DEFAULT_RUN_SECONDS, SCENARIOS_DIR, Scenario, load
from loadgen.schedule import Constant, Spike


def test_every_shipped_scenario_loads_by_name() -> None:
    names = sorted(p.stem for p in SCENARIOS_DIR.glob("*.yaml"))
    assert names and all(load(n).description for n in names)
    spike = load("spike")
    assert isinstance(spike.profile, Spike) and spike.duration == 120 and spike.arrivals == "poisson"


def test_a_file_path_loads(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("profile: {kind: constant, rate: 3}\ntimeout: 250ms\nrequests: 9\n")
    s = load(path)
    assert s.profile == Constant(rate=3) and s.timeout == 0.25 and s.requests == 9
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing")


@pytest.mark.parametrize(
    ("routes", "why"),
    [({"single": 1, "nope": 1}, "unknown routes ['nope']"), ({"single": 0}, "positive sum"), ({"batch": -1}, ">= 0")],
)
def test_route_mixes_are_checked(routes: dict[str, float], why: str) -> None:
    with pytest.raises(ValidationError, match=why.replace("[", r"\[").replace("]", r"\]")):
        Scenario(profile=Constant(rate=1), routes=routes)


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="extra"):
        Scenario.model_validate({"profile": {"kind": "constant", "rate": 1}, "rate": 5})


def test_run_length() -> None:
    constant = Constant(rate=1)
    assert Scenario(profile=constant, duration=5).run_length() == 5
    assert Scenario(profile=constant).run_length() == DEFAULT_RUN_SECONDS
    assert Scenario(profile=constant, requests=10).run_length() is None  # the count bounds it
    assert load("original").run_length() == 270  # the users profile's own end
