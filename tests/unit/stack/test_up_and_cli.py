"""python -m stack in-process: its arguments, the files `up` renders, and how it supervises its processes.

The stack's real processes are the e2e tier's; here the supervisor runs short-lived stand-ins (sleep, exit),
and the canned Prometheus answers every readiness URL and the report's queries.
"""

from __future__ import annotations

import argparse
import io
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from rich.console import Console

from slo.spec import load_spec
from stack import procfile, up
from stack.__main__ import main, parser, processes
from stack.settings import ROOT, StackSettings
from stack.supervisor import Supervisor
from tests.unit.stack.canned import CannedPrometheus, closed_port_url

SPEC = load_spec(ROOT / "prometheus" / "slo.yaml")
READY = (200, "ok")


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, canned_prometheus: CannedPrometheus) -> StackSettings:
    """Every process of the stack 'listening' on the canned server, the run folder in tmp_path."""
    port = str(urlsplit(canned_prometheus.url).port)
    for name in procfile.PROCESSES:
        monkeypatch.setenv(f"STACK_{name.upper()}_PORT", port)
    monkeypatch.setenv("STACK_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("STACK_READY_TIMEOUT", "5")
    canned_prometheus.paths = {path: READY for path in ("/readyz", "/metrics", "/-/ready")}
    canned_prometheus.paths["/api/v1/alerts"] = (200, {"status": "success", "data": {"alerts": []}})
    return StackSettings()


@contextmanager
def supervising(tmp_path: Path, **commands: str) -> Iterator[Supervisor]:
    """The stack's supervisor running stand-in commands, stopped when the block ends."""
    processes = Supervisor(commands, tmp_path / "logs", tmp_path)
    processes.start()
    try:
        yield processes
    finally:
        processes.stop()


@pytest.fixture
def staying(tmp_path: Path) -> Iterator[Supervisor]:
    """Stand-ins that stay up until the test ends."""
    with supervising(tmp_path, service="exec sleep 30") as processes:
        yield processes


def test_up_help_lists_the_bounded_soak(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        parser().parse_args(["up", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "--duration" in out and "bounded soak" in out


def test_processes_are_checked_against_the_stacks() -> None:
    assert processes("loadgen,,prometheus") == frozenset({"loadgen", "prometheus"})
    with pytest.raises(argparse.ArgumentTypeError, match="grafana"):
        processes("grafana")


def test_procfile_command_prints_it(settings: StackSettings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["procfile"]) == 0
    assert capsys.readouterr().out == procfile.render(settings)


def test_wait_answers_by_health(canned_prometheus: CannedPrometheus) -> None:
    canned_prometheus.paths = {"/readyz": READY}
    assert main(["wait", f"{canned_prometheus.url}/readyz", "--timeout", "5"]) == 0
    assert main(["wait", f"{canned_prometheus.url}/missing", "--timeout", "0.3"]) == 1


def test_report_command_prints_json_and_exits_1_on_a_breach(
    settings: StackSettings, canned_prometheus: CannedPrometheus, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--window", "90", "--prometheus", canned_prometheus.url, "--json"]) == 1
    saved = json.loads(capsys.readouterr().out)
    assert saved["window_seconds"] == 90 and saved["ok"] is False
    assert main(["report", "--window", "90"]) == 1  # the local stack's Prometheus, from the settings
    assert "verdict: BREACH" in capsys.readouterr().out


def test_a_missing_spec_is_an_error_not_a_traceback(
    settings: StackSettings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STACK_SLO_SPEC", str(tmp_path / "nowhere.yaml"))
    assert main(["report", "--window", "60"]) == up.EXIT_FAILED
    assert "nowhere.yaml" in capsys.readouterr().err


def test_prepare_renders_the_procfile_and_a_prometheus_config_for_the_settings(settings: StackSettings) -> None:
    path = up.prepare(settings, frozenset({"loadgen"}))
    assert path.read_text() == procfile.render(settings, frozenset({"loadgen"}))
    config = yaml.safe_load(procfile.run_paths(settings)["prometheus_config"].read_text())
    assert config["rule_files"] == [str(ROOT / "prometheus" / "generated" / "rules" / "*.yml")]
    port = settings.prometheus_port
    assert config["scrape_configs"][0]["static_configs"] == [{"targets": [f"127.0.0.1:{port}"]}]
    assert procfile.run_paths(settings)["prometheus_data"].is_dir()


def test_ready_urls_and_where_to_look_name_only_what_runs(settings: StackSettings) -> None:
    assert set(up.ready_urls(settings, ["service", "prometheus"])) == {"service", "prometheus"}
    text = up.where_to_look(settings, ["service"])
    assert "/docs" in text and "prometheus" not in text
    assert str(procfile.run_paths(settings)["logs"]) in text  # where the logs are
    assert set(up.links(settings, ["service"])) == {"docs"}


def test_a_bounded_run_reports_and_saves_the_report(
    settings: StackSettings, staying: Supervisor, capsys: pytest.CaptureFixture[str]
) -> None:
    up.prepare(settings, frozenset())
    code = up._supervise(settings, staying, threading.Event(), list(procfile.PROCESSES), 0.3, SPEC)
    assert code == up.EXIT_BREACH  # the canned Prometheus has no traffic
    out = capsys.readouterr().out
    assert "the stack is up" in out and "verdict: BREACH" in out
    saved = json.loads((settings.path(settings.run_dir) / "slo-report.json").read_text())
    assert [s["name"] for s in saved["slos"]] == [s.name for s in SPEC.slos]


def test_ctrl_c_before_or_after_ready_stops_cleanly(settings: StackSettings, staying: Supervisor) -> None:
    stop = threading.Event()
    stop.set()
    assert up._supervise(settings, staying, stop, ["service"], None, None) == up.EXIT_OK
    later = threading.Event()
    threading.Timer(0.3, later.set).start()
    assert up._supervise(settings, staying, later, ["service"], None, None) == up.EXIT_OK


def test_a_process_that_dies_fails_the_stack_naming_it_and_its_log(
    settings: StackSettings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with supervising(tmp_path / "a", service="echo port taken >&2; exit 3") as dead:
        dead.procs["service"].wait()
        assert up._supervise(settings, dead, threading.Event(), ["service"], None, None) == up.EXIT_FAILED
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "stopped before the stack was ready" in err  # one line
    assert "service exited with code 3" in err and str(tmp_path / "a" / "logs" / "service.log") in err
    assert 'last line: "port taken"' in err
    with supervising(tmp_path / "b", service="sleep 0.5; kill -9 $$") as dying:
        assert up._supervise(settings, dying, threading.Event(), ["service"], None, None) == up.EXIT_FAILED
    err = capsys.readouterr().err
    assert "service was killed by signal 9" in err and "the stack is down" in err


def test_a_stack_never_ready_fails_after_the_timeout_naming_the_logs(
    monkeypatch: pytest.MonkeyPatch, staying: Supervisor, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STACK_SERVICE_PORT", str(urlsplit(closed_port_url()).port))
    monkeypatch.setenv("STACK_READY_TIMEOUT", "0.3")
    assert up._supervise(StackSettings(), staying, threading.Event(), ["service"], None, None) == up.EXIT_FAILED
    err = capsys.readouterr().err
    assert "not ready after 0.3s" in err and "service.log" in err


def stand_ins(monkeypatch: pytest.MonkeyPatch, command: str) -> None:
    """Every process of the stack replaced by `command` (the canned server answers for their readiness)."""
    monkeypatch.setattr(procfile, "chosen", lambda settings, without: {n: command for n in procfile.PROCESSES})


def test_up_runs_each_process_into_its_log_shows_the_status_and_stops_them_all(
    settings: StackSettings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stand_ins(monkeypatch, "echo started; exec sleep 30")
    monkeypatch.setattr(settings, "status_interval", 0.1)
    console = Console(file=io.StringIO(), width=400)  # not a terminal: summary lines
    code = up.up(settings, duration=0.6, console=console)
    assert code == up.EXIT_BREACH  # the canned Prometheus has no traffic
    logs = procfile.run_paths(settings)["logs"]
    assert {p.name for p in logs.iterdir()} == {f"{n}.log" for n in procfile.PROCESSES}
    assert all((logs / f"{n}.log").read_text() == "started\n" for n in procfile.PROCESSES)
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert lines and all(line.startswith("stack ") and "processes 4/4 up" in line for line in lines), lines
    out = capsys.readouterr().out
    assert "started" not in out.replace("stack: starting", "")  # the processes' output is in their logs only
    assert out.rstrip().endswith("stack: stopped")


def test_up_with_logs_streams_them_prefixed_by_name(
    settings: StackSettings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stand_ins(monkeypatch, "echo hello; echo world >&2; exec sleep 30")
    assert up.up(settings, duration=0.3, logs=True) == up.EXIT_BREACH
    out = capsys.readouterr().out.splitlines()
    for name in procfile.PROCESSES:
        assert f"{name:<12} | hello" in out and f"{name:<12} | world" in out
    assert out[-1] == "stack: stopped"
