"""The daemon in-process: it serves its metrics while it sends, and SIGTERM drains it to exit 0."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from contract import metrics as contract
from contract.routes import PREDICTION_ROUTES
from loadgen import daemon, deck
from loadgen.__main__ import main
from loadgen.schedule import Constant, Sine
from loadgen.settings import LoadgenSettings
from tests import processes
from tests.unit.loadgen.raw_http import OK, RawServer, read_request, server_thread


def until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)
    return predicate()


#: The test server's answer time: at 200 req/s about 40 requests are in flight when SIGTERM comes.
DELAY = 0.2


async def late(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: RawServer) -> None:
    while await read_request(reader, server):
        await asyncio.sleep(DELAY)
        writer.write(OK)
        await writer.drain()
        server.answered += 1


@pytest.fixture
def server() -> Iterator[RawServer]:
    with server_thread(late) as s:
        yield s


def scrape_then_stop(base: str, seen: dict[str, str]) -> None:
    """From a thread: wait for /healthz, scrape until requests have finished and many are in flight, then
    SIGTERM this process (the daemon's handler is in place once it answers: both are set up before its loop
    serves anything)."""
    deadline = time.monotonic() + 10
    up = False
    try:
        while time.monotonic() < deadline:
            try:
                up = up or httpx.get(base + "/healthz", timeout=1).status_code == 200
                text = httpx.get(base + "/metrics", timeout=1).text
            except httpx.TransportError:
                time.sleep(0.02)
                continue
            in_flight = re.search(rf"^{contract.LOADGEN_IN_FLIGHT.name} (\S+)$", text, re.MULTILINE)
            if 'outcome="200"' in text and in_flight and float(in_flight[1]) >= 5:
                seen["metrics"] = text
                return
            time.sleep(0.02)
    finally:
        if up and _answers(base + "/healthz"):  # still running: its handler, not the default one, gets it
            os.kill(os.getpid(), signal.SIGTERM)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def test_daemon_serves_metrics_and_sigterm_drains_the_requests_in_flight(
    server: RawServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    port = processes.free_port()
    for name, value in {"TARGET": server.url, "METRICS_PORT": str(port), "RATE": "200", "DRAIN_SECONDS": "5"}.items():
        monkeypatch.setenv(f"LOADGEN_{name}", value)
    monkeypatch.setattr(deck, "DECK_SIZE", 64)
    monkeypatch.setattr(daemon, "FOLD_SECONDS", 0.01)
    monkeypatch.setattr(daemon, "LOG_EVERY_FOLDS", 1)
    caplog.set_level(logging.INFO, logger="loadgen.daemon")
    seen: dict[str, str] = {}
    scraper = threading.Thread(target=scrape_then_stop, args=(f"http://127.0.0.1:{port}", seen))
    scraper.start()
    try:
        assert main(["daemon"]) == 0
    finally:
        scraper.join(15)
    text = seen["metrics"]
    for metric in (contract.LOADGEN_REQUESTS, contract.LOADGEN_SCHEDULED, contract.LOADGEN_TARGET_RATE):
        assert f"\n{metric.name}" in text
    assert f"{contract.LOADGEN_TARGET_RATE.name} 200.0" in text
    log = caplog.text
    assert "scheduled=" in log and "p99_ms=" in log  # the progress line
    m = re.search(r"stopped: scheduled=\d+ sent=(\d+) dropped=0 finished=(\d+); all in-flight requests finished", log)
    assert m and int(m[1]) == int(m[2]) == len(server.requests), log
    assert until(lambda: server.answered == len(server.requests))  # what was sent was answered, and waited for


def test_the_daemons_scenario(tmp_path: Path) -> None:
    default = daemon.scenario_from(LoadgenSettings(rate=3, invalid_fraction=0.5, scenario=None))
    assert default.profile == Constant(rate=3) and default.arrivals == "poisson"
    # The insurance workload, every request's invalid share the setting's.
    assert tuple(r.path for r in default.workload) == PREDICTION_ROUTES
    assert all(r.body and r.body.options["invalid_fraction"] == 0.5 for r in default.workload)
    # A workload of one's own, whose generators have no invalid share: the setting leaves it as it is.
    (tmp_path / "b.jsonl").write_text('{"x": 1}\n')
    (tmp_path / "w.yaml").write_text("- {path: /score, body: {jsonl: b.jsonl}}\n")
    own = daemon.scenario_from(LoadgenSettings(workload=tmp_path / "w.yaml", scenario=None))
    assert [(r.path, r.body and r.body.jsonl) for r in own.workload] == [("/score", tmp_path / "b.jsonl")]
    daily = daemon.scenario_from(LoadgenSettings(scenario=Path("daily")))
    assert isinstance(daily.profile, Sine)
