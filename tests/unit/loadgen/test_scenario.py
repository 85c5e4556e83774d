"""Scenarios: the shipped YAML files, their validation, and how long a run lasts."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from contract.routes import PREDICT, PREDICTION_ROUTES
from loadgen.scenario import DEFAULT_RUN_SECONDS, SCENARIOS_DIR, Scenario, load
from loadgen.schedule import Constant, Spike
from loadgen.workload import WORKLOADS_DIR


def test_every_shipped_scenario_loads_by_name() -> None:
    names = sorted(p.stem for p in SCENARIOS_DIR.glob("*.yaml"))
    assert names and all(load(n).description for n in names)
    spike = load("spike")
    assert isinstance(spike.profile, Spike) and spike.duration == 120 and spike.arrivals == "poisson"
    assert [r.path for r in spike.workload] == [PREDICT]


def test_the_shipped_workloads_send_to_the_contracts_routes() -> None:
    """The insurance workload's paths are the service's prediction routes (the YAML spells them out: the load
    generator does not import the contract), each body from the insurance generator."""
    shipped = [*(load(p.stem) for p in SCENARIOS_DIR.glob("*.yaml")), Scenario(profile=Constant(rate=1))]
    for scenario in shipped:
        assert {r.path for r in scenario.workload} <= set(PREDICTION_ROUTES)
        assert all(r.body and r.body.generator == "contract.workload:insurance" for r in scenario.workload)
    default = Scenario(profile=Constant(rate=1)).workload  # loadgen/workloads/insurance-predict.yaml
    assert [(r.path, r.weight) for r in default] == [(PREDICT, 1)]
    everything = Scenario(profile=Constant(rate=1), workload="insurance").workload
    assert [(r.path, r.weight) for r in everything] == list(zip(PREDICTION_ROUTES, (8, 1, 1), strict=True))
    assert sorted(p.stem for p in WORKLOADS_DIR.glob("*.yaml")) == ["insurance", "insurance-predict"]
    steady = load("steady").workload
    assert [r.weight for r in steady] == [8, 1, 1] and all(r.body and r.body.options["invalid_fraction"] == 0.01
                                                           for r in steady)  # fmt: skip


def test_a_scenarios_workload_files_are_relative_to_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "w.yaml").write_text("- {path: /a, body: {jsonl: bodies.jsonl}}\n")
    (tmp_path / "inline.yaml").write_text("profile: {kind: constant, rate: 1}\n"
                                          "workload: [{path: /b, body: {csv: data/rows.csv}}]\n")  # fmt: skip
    (tmp_path / "by-file.yaml").write_text("profile: {kind: constant, rate: 1}\nworkload: data/w.yaml\n")
    monkeypatch.chdir("/")
    inline = load(tmp_path / "inline.yaml").workload
    assert inline[0].body and inline[0].body.csv == tmp_path / "data" / "rows.csv"
    by_file = load(tmp_path / "by-file.yaml").workload  # relative to the workload file, which names it
    assert by_file[0].body and by_file[0].body.jsonl == tmp_path / "data" / "bodies.jsonl"
    # Through a dump and back (as `run` merges flags into a scenario), the paths stay where they were.
    again = Scenario.model_validate(load(tmp_path / "by-file.yaml").model_dump(by_alias=True))
    assert again.workload == by_file


def test_a_file_path_loads(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("profile: {kind: constant, rate: 3}\ntimeout: 250ms\nrequests: 9\n")
    s = load(path)
    assert s.profile == Constant(rate=3) and s.timeout == 0.25 and s.requests == 9
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing")


@pytest.mark.parametrize(
    ("workload", "why"),
    [
        ([{"path": "/a", "weight": 0}], "no request has a positive weight"),
        ([{"path": "/a"}, {"path": "/a", "method": "GET"}], "requests named twice: ['/a']"),
        ([{"path": "/a", "weight": -1}], "greater than or equal to 0"),
        ("/nonexistent/workload.yaml", "workload file /nonexistent/workload.yaml"),
    ],
)
def test_workloads_are_checked(workload: object, why: str) -> None:
    with pytest.raises((ValidationError, ValueError), match=why.replace("[", r"\[").replace("]", r"\]")):
        Scenario.model_validate({"profile": {"kind": "constant", "rate": 1}, "workload": workload})


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="extra"):
        Scenario.model_validate({"profile": {"kind": "constant", "rate": 1}, "rate": 5})


def test_run_length() -> None:
    constant = Constant(rate=1)
    assert Scenario(profile=constant, duration=5).run_length() == 5
    assert Scenario(profile=constant).run_length() == DEFAULT_RUN_SECONDS
    assert Scenario(profile=constant, requests=10).run_length() is None  # the count bounds it
    assert load("original").run_length() == 270  # the users profile's own end
