"""The status drawn: the live screen (rich, recorded as text) and the summary line, from statuses built by the
model out of captured Prometheus answers (test_status_model.py), and from hand-made edge statuses."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console

from stack.status import render
from stack.status.model import Alert, Gap, ProcessState, SloState, Status, Traffic, fetch
from stack.status.screen import Screen
from tests.unit.stack.canned import CannedPrometheus, closed_port_url
from tests.unit.stack.test_status_model import serve, source


def text(status: Status, width: int = 160) -> str:
    console = Console(record=True, width=width, file=io.StringIO())
    console.print(render.screen(status))
    return console.export_text()


def edge(**changes: object) -> Status:
    """A status with a process of each state, one SLO and no traffic."""
    base = Status(
        at=0.0,
        uptime=3725.0,
        window="1m",
        processes=[
            ProcessState("service", "up", 101, "http://127.0.0.1:8000", Path("/r/logs/service.log")),
            ProcessState("loadgen", "starting", 102, "http://127.0.0.1:9100", Path("/r/logs/loadgen.log")),
            ProcessState("prometheus", "down", None, "http://127.0.0.1:9090", Path("/r/logs/prometheus.log")),
        ],
        client=Traffic({}, Gap.NO_DATA, Gap.NO_DATA, dropped=0.0, target=5.0),
        service=Traffic({}, Gap.NO_DATA, Gap.NO_DATA),
        slos=[SloState("svc", "availability", 0.999, Gap.NO_DATA, Gap.NO_DATA, Gap.NO_DATA, Gap.NO_DATA)],
        alerts=[],
        links={"docs": "http://127.0.0.1:8000/docs"},
        logs=Path("/r/logs"),
    )
    return Status(**{**vars(base), **changes})


def test_the_screen_of_a_run_with_faults_shows_every_part(canned_prometheus: CannedPrometheus) -> None:
    serve(canned_prometheus, "faults")
    status = fetch(source(canned_prometheus.url), started=time.time() - 100)
    screen = text(status)
    for heading in ("processes", "traffic", "SLOs", "alerts firing", "where to look:"):
        assert heading in screen
    for slo in status.slos:
        assert slo.name in screen and render.percent(slo.sli_now) in screen
    client = status.client.total
    assert isinstance(client, float) and f"{client:,.1f}" in screen
    firing = status.firing
    assert not isinstance(firing, Gap) and firing and all(a.name in screen for a in firing[: render.MAX_ALERTS])
    more = len(firing) - render.MAX_ALERTS
    assert (f"... and {more} more" in screen) == (more > 0)
    assert "nan" not in screen.lower()
    assert max(map(len, screen.splitlines())) <= 160


def test_gaps_read_as_their_reason_and_zero_traffic_as_zero() -> None:
    screen = text(edge())
    assert "no data" in screen and "nan" not in screen.lower()
    assert "1:02:05" in screen and "processes 1/3 up" in screen
    for state in ("up", "starting", "down"):
        assert state in screen
    failed = text(edge(alerts=Gap.FAILED, client=Traffic(Gap.FAILED, Gap.FAILED, Gap.FAILED, Gap.FAILED)))
    assert "alerts: n/a" in failed and "n/a" in failed.split("client (loadgen)")[1].splitlines()[0]


def test_numbers_are_formatted_for_people() -> None:
    assert render.latency(0.0123) == "12.3 ms" and render.latency(1.5) == "1.50 s"
    assert render.latency(float("inf")) == "> top bucket" and render.latency(Gap.FAILED) == "n/a"
    assert render.percent(0.99951) == "99.951%" and render.percent(-2.5, 1) == "-250.0%"
    assert render.rate(12345.67) == "12,345.7" and render.rate(None) == "-"
    assert render.times(14.4) == "14.40x" and render.duration(59) == "0:00:59"
    assert render.transport(Traffic({"2xx": 1.0, "timeout": 0.5}, 0.1, 0.2)) == "0.5 (timeout 0.5)"


def test_the_summary_line_is_one_line_with_every_part(canned_prometheus: CannedPrometheus) -> None:
    serve(canned_prometheus, "faults")
    status = fetch(source(canned_prometheus.url), started=time.time() - 100)
    line = render.line(status)
    assert "\n" not in line and "nan" not in line.lower()
    assert "client " in line and "service " in line and "5xx" in line and "alerts firing: " in line
    assert all(slo.name in line for slo in status.slos)
    down = render.line(fetch(source(closed_port_url()), started=time.time()))
    assert "n/a" in down and "alerts firing: n/a" in down
    assert "(not up: prometheus)" in render.line(edge(processes=edge().processes[:1] + edge().processes[2:]))


@pytest.mark.parametrize("terminal", [False, True])
def test_the_screen_loop_draws_until_stopped(canned_prometheus: CannedPrometheus, terminal: bool) -> None:
    serve(canned_prometheus, "faults")
    out = io.StringIO()
    console = Console(file=out, width=160, force_terminal=terminal)
    reads = threading.Semaphore(0)

    def read(src: object, started: float) -> Status:
        reads.release()
        return fetch(source(canned_prometheus.url), started)

    screen = Screen(source(canned_prometheus.url), console, refresh=0.05, interval=0.05, read=read)
    assert screen.live is terminal
    screen.start()
    for _ in range(3):
        assert reads.acquire(timeout=10)
    screen.stop()
    drawn = out.getvalue()
    if terminal:
        assert "\x1b[" in drawn and "SLOs" in drawn  # drawn in place, with the terminal's control codes
    else:
        lines = drawn.splitlines()
        assert len(lines) >= 2 and all(line.startswith("stack ") for line in lines) and "\x1b[" not in drawn


def test_many_firing_alerts_are_cut_to_fit_the_screen() -> None:
    many = [Alert(f"Alert{i}", "firing", "critical", "", "2026-12-02T08:25:46.4149Z") for i in range(12)]
    screen = text(edge(alerts=[*many, Alert("Later", "pending", "", "", "not a time")]))
    assert "Alert7" in screen and "Alert8" not in screen and "and 4 more" in screen and "(pending: 1)" in screen
    assert render.since("not a time") == "not a time"


def test_a_target_is_the_server_side_and_a_target_without_metrics_has_none() -> None:
    ours, target, bare = edge(), edge(service_side="target"), edge(service_side=None)
    assert "service (predictions)" in text(ours) and "service 0.0 req/s" in render.line(ours)
    assert "target (predictions)" in text(target) and "service (predictions)" not in text(target)
    assert "| target 0.0 req/s" in render.line(target)
    assert "(predictions)" not in text(bare) and "client (loadgen)" in text(bare)
    assert "service" not in render.line(bare).split("| SLI")[0].split("processes")[1]
