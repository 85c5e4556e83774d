"""`python -m loadgen`: flags, exit codes and what --quiet leaves out, in-process against a raw loopback server."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadgen import deck
from loadgen.__main__ import build_scenario, main, parser
from loadgen.runner import EXIT_INTERRUPTED, EXIT_OK, EXIT_THRESHOLDS, EXIT_USAGE
from loadgen.scenario import Scenario
from loadgen.schedule import Constant, Ramp, Sine, Spike, Stages
from loadgen.thresholds import DEFAULT_DROPPED
from slo.thresholds import k6_thresholds
from tests import processes
from tests.unit.loadgen.raw_http import OK, Handler, RawServer, read_request, server_thread


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No LOADGEN_* setting from the outside, and small decks (building 8192 requests takes a second)."""
    for name in list(os.environ):
        if name.startswith("LOADGEN_"):
            monkeypatch.delenv(name)
    monkeypatch.setattr(deck, "DECK_SIZE", 64)


@pytest.fixture(scope="module")
def server() -> Iterator[RawServer]:
    with server_thread() as s:
        yield s


def run(*argv: str) -> int:
    return main(["run", *argv])


def test_quiet_shows_nothing_and_a_failed_threshold_exits_99(
    server: RawServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ("--target", server.url, "--rate", "1000", "--requests", "20", "--threshold", "p(50)<1us")
    assert run(*flags, "--quiet", "--out", str(tmp_path / "quiet")) == EXIT_THRESHOLDS
    assert capsys.readouterr() == ("", "")  # no table, no progress, no file list
    assert json.loads((tmp_path / "quiet" / "results.json").read_text())["passed"] is False
    assert run(*flags, "--out", str(tmp_path / "loud")) == EXIT_THRESHOLDS
    out, err = capsys.readouterr()
    assert "p(50)<1us" in out and "FAIL" in out and "requests (finished)" in out  # the table, on stdout
    assert "results.json" in err


def test_a_run_with_every_knob(server: RawServer, tmp_path: Path) -> None:
    code = run(
        "--target", server.url + "/", "--ramp", "500:1000", "--duration", "50ms", "--arrivals", "poisson",
        "--workload", "insurance", "--routes", "/v1/predict=2,/v1/predict/batch=1", "--batch-size", "2",
        "--invalid-fraction", "0", "--seed", "3", "--max-in-flight", "50", "--max-connections", "4",
        "--timeout", "2s", "--idle-timeout", "300ms", "--threshold", "error_rate==0",
        "--client", "fast", "--out", str(tmp_path), "--quiet",
    )  # fmt: skip
    doc = json.loads((tmp_path / "results.json").read_text())
    assert code == EXIT_OK, doc
    assert doc["scheduled"] == doc["sent"] == doc["completed"] > 0 and doc["outcomes"] == {"200": doc["completed"]}
    assert doc["scenario"] == "flags" and doc["target"] == server.url + "/"
    assert doc["settings"]["timeout"] == 2 and doc["settings"]["idle_timeout"] == 0.3
    assert doc["settings"]["max_connections"] == 4
    # The insurance workload with the flags' mix and generator options.
    workload = {r["path"]: (r["weight"], r["body"]["options"]) for r in doc["settings"]["workload"]}
    assert workload == {
        "/v1/predict": (2, {"invalid_fraction": 0}),
        "/v1/predict/batch": (1, {"invalid_fraction": 0, "batch_size": 2}),
        "/api/models/insurance_charges_model/prediction": (0, {"invalid_fraction": 0}),
    }
    assert set(doc["routes"]) <= {"/v1/predict", "/v1/predict/batch"}


def test_slo_flag_takes_the_thresholds_of_the_spec(server: RawServer, tmp_path: Path) -> None:
    spec = processes.ROOT / "prometheus" / "slo.yaml"
    code = run("--target", server.url, "--rate", "1000", "--requests", "40", "--slo", str(spec), "--out", str(tmp_path),
               "--quiet")  # fmt: skip
    doc = json.loads((tmp_path / "results.json").read_text())
    assert {t["threshold"] for t in doc["thresholds"]} == {*k6_thresholds(spec), DEFAULT_DROPPED} != {DEFAULT_DROPPED}
    assert code == (EXIT_OK if doc["passed"] else EXIT_THRESHOLDS)  # the verdict, whatever this machine's load


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--threshold", "p99<1ms"], "bad threshold"),
        (["--duration", "5x"], "not a duration"),
        (["--timeout", "soon"], "not a duration"),
        (["--ramp", "1"], "--ramp takes 2 values"),
        (["--stages", "10s:1,20s"], "--stages takes 2 values"),
        (["--sine", "1:2"], "--sine takes 3 values"),
        (["--spike", "1:2:3"], "--spike takes 4 values"),
        (["--rate", "-1"], "greater than or equal to 0"),
        (["--routes", "/v1/predict=1,single=1"], "unknown requests ['single']; the workload's: ["),
        (["--routes", "single"], "--routes takes NAME=WEIGHT pairs"),
        (["--routes", "/v1/predict=lots"], "weight 'lots' of '/v1/predict' is not a number"),
        (["--routes", "/v1/predict=0"], "positive sum"),
        (["--option", "nope=1"], "no body generator of the workload has the option 'nope'"),
        (["--option", "novalue"], "--option takes NAME=VALUE"),
        (["--option", "invalid_fraction=[1"], "is not YAML"),
        (["--invalid-fraction", "2", "--requests", "1"], "invalid_fraction must be within 0-1"),
        (["--workload", "/nonexistent/w.yaml"], "workload file /nonexistent/w.yaml"),
        (["--scenario", "/nonexistent/scenario.yaml"], "scenario.yaml"),
        (["--slo", "/nonexistent/slo.yaml"], "slo.yaml"),
        (["--target", "ftp://127.0.0.1:1", "--client", "fast", "--requests", "1"], "give an http:// or https://"),
        (["--workers", "0"], "--workers takes a number >= 1"),
        (["--scenario", "steady", "--workers", "two"], "--workers takes a number >= 1"),
    ],
)
def test_usage_errors_exit_2_with_a_message(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(*argv, "--quiet") == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_bad_settings_exit_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LOADGEN_METRICS_PORT", "not-a-port")
    assert run("--requests", "1", "--quiet") == EXIT_USAGE
    assert main(["daemon"]) == EXIT_USAGE
    assert capsys.readouterr().err.count("metrics_port") == 2  # both say which setting


def test_a_missing_slo_spec_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("--slo", str(tmp_path / "nope.yaml"), "--requests", "1", "--quiet") == EXIT_USAGE
    assert "nope.yaml" in capsys.readouterr().err


def test_flag_errors_are_argparses() -> None:
    for argv in (["run", "--rate", "1", "--sine", "1:1:1"], ["run", "--arrivals", "bursty"], ["fly"], []):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == EXIT_USAGE


def test_profile_flags() -> None:
    def scenario(*argv: str) -> Scenario:
        return build_scenario(parser().parse_args(["run", *argv]))

    assert scenario().profile == Constant(rate=10)
    assert scenario("--ramp", "1:5", "--duration", "1m").profile == Ramp(start=1, end=5, over=60)
    assert scenario("--ramp", "1:5").profile == Ramp(start=1, end=5, over=30)
    stages = scenario("--stages", "30s:1,1m:5").profile
    assert isinstance(stages, Stages) and [(s.duration, s.target) for s in stages.stages] == [(30, 1), (60, 5)]
    assert scenario("--sine", "10:8:24h").profile == Sine(mean=10, amplitude=8, period=86400)
    assert scenario("--spike", "1:9:1m:30s").profile == Spike(base=1, peak=9, at=60, length=30)
    steady = scenario("--scenario", "steady", "--rate", "7", "--seed", "5")
    assert steady.profile == Constant(rate=7) and steady.seed == 5 and steady.description  # flags over the file


def test_a_stall_shows_in_the_tail_and_the_schedule_goes_on(tmp_path: Path) -> None:
    """Open loop: the target stalls for 0.2 s in the middle of a 1 s run at 100 req/s; requests keep going out
    on schedule, and those caught in the stall count the wait (p99 near 0.2 s) while most stay fast."""
    first: list[float] = []

    async def stalling(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: RawServer) -> None:
        while await read_request(reader, server):
            now = time.monotonic()
            if not first:
                first.append(now)
            phase = now - first[0]
            if 0.4 <= phase < 0.6:
                await asyncio.sleep(0.6 - phase)
            writer.write(OK)
            await writer.drain()

    with server_thread(stalling) as server:
        code = run("--target", server.url, "--rate", "100", "--duration", "1s", "--out", str(tmp_path), "--quiet")
    doc = json.loads((tmp_path / "results.json").read_text())
    assert code == EXIT_OK and doc["dropped"] == 0 and doc["outcomes"] == {"200": 100}
    assert doc["latency_ms"]["p99"] >= 150
    assert doc["latency_ms"]["p50"] < 100  # only the stall is slow


# --- a verdict that cannot hide failures -------------------------------------------------------------------


def every_tenth(answer: bytes, pause: float = 0.0) -> Handler:
    """A handler answering every tenth request with `answer`, the others 200 (after `pause` s each)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: RawServer) -> None:
        while await read_request(reader, server):
            if pause:
                await asyncio.sleep(pause)
            writer.write(answer if len(server.requests) % 10 == 0 else OK)
            await writer.drain()

    return handler


def test_a_103_then_503_target_fails_its_error_rate(tmp_path: Path) -> None:
    """103 Early Hints, then the real answer, a 503: one request in ten failed, and the verdict says so."""
    hints_then_503 = (b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
                      b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")  # fmt: skip
    with server_thread(every_tenth(hints_then_503)) as server:
        code = run("--target", server.url, "--rate", "200", "--requests", "100", "--threshold", "error_rate<0.01",
                   "--out", str(tmp_path), "--quiet")  # fmt: skip
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["outcomes"] == {"200": 90, "503": 10} and doc["error_rate"] == pytest.approx(0.1)
    assert code == EXIT_THRESHOLDS and [t["ok"] for t in doc["thresholds"]] == [False, True]


def test_a_closed_port_fails_a_latency_only_threshold(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Refused connections are not fast answers: with nothing answered, a latency threshold has no value and fails."""
    target = f"http://127.0.0.1:{processes.free_port()}"
    code = run("--target", target, "--rate", "200", "--requests", "20", "--threshold", "p(99)<100ms",
               "--out", str(tmp_path))  # fmt: skip
    doc = json.loads((tmp_path / "results.json").read_text())
    assert code == EXIT_THRESHOLDS and doc["outcomes"] == {"connect": 20}
    assert doc["thresholds"][0] == {"threshold": "p(99)<100ms", "ok": False, "actual": None, "unit": "ms"}
    assert doc["latency_ms"]["max"] == 0 and doc["failed_latency_ms"]["max"] > 0  # the failures' own latency
    assert "no answered request" in capsys.readouterr().out


def test_dropping_more_than_1_percent_fails_by_default(tmp_path: Path) -> None:
    """A generator that could not keep its schedule (here: the in-flight bound against a slow target) does not
    pass, unless the user says dropping is fine."""

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: RawServer) -> None:
        while await read_request(reader, server):
            await asyncio.sleep(0.1)
            writer.write(OK)
            await writer.drain()

    flags = ("--rate", "100", "--duration", "1s", "--max-in-flight", "8", "--quiet")
    with server_thread(slow) as server:
        code = run("--target", server.url, *flags, "--out", str(tmp_path / "default"))
        allowed = run("--target", server.url, *flags, "--threshold", "dropped_rate<=0.5", "--out", str(tmp_path / "ok"))
    doc = json.loads((tmp_path / "default" / "results.json").read_text())
    assert 0.01 < doc["dropped_rate"] < 0.5 and code == EXIT_THRESHOLDS
    assert doc["thresholds"] == [{"threshold": DEFAULT_DROPPED, "ok": False, "actual": doc["dropped_rate"], "unit": ""}]
    assert allowed == EXIT_OK
    assert [t["threshold"] for t in json.loads((tmp_path / "ok" / "results.json").read_text())["thresholds"]] == [
        "dropped_rate<=0.5"
    ]


@pytest.mark.parametrize(
    ("target", "why"),
    [("127.0.0.1:{port}", "give an http:// or https://"), ("ftp://127.0.0.1:{port}", "give an http:// or https://"),
     ("http://127.0.0.1:99999", "Port out of range"), ("http://", "no host name"), ("http://[::1", "Invalid IPv6")],
)  # fmt: skip
def test_a_bad_target_exits_2_before_any_request(
    target: str, why: str, server: RawServer, capsys: pytest.CaptureFixture[str]
) -> None:
    before = server.connections
    assert run("--target", target.format(port=server.port), "--requests", "5", "--quiet") == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: bad target") and why in err
    assert server.connections == before


def test_sigint_stops_early_with_the_interrupted_code_and_writes_the_results(tmp_path: Path) -> None:
    """The first SIGINT stops the schedule; the run still reports what it measured, marked interrupted."""
    with server_thread() as server:

        def interrupt() -> None:  # once requests flow, the handler is in place
            deadline = time.monotonic() + 30
            while len(server.requests) < 20 and time.monotonic() < deadline:
                time.sleep(0.01)
            os.kill(os.getpid(), signal.SIGINT)

        threading.Thread(target=interrupt, daemon=True).start()
        started = time.monotonic()
        code = run("--target", server.url, "--rate", "100", "--duration", "30s", "--out", str(tmp_path), "--quiet")
    doc = json.loads((tmp_path / "results.json").read_text())
    assert code == EXIT_INTERRUPTED and doc["interrupted"] is True and time.monotonic() - started < 20
    assert 20 <= doc["completed"] == doc["sent"] < 3000 and doc["duration_s"] < 20
