"""The loadgen's HTML report of a run with an outage in the middle, opened in headless Chromium.

A small aiohttp server answers, goes away for some seconds (stops listening and drops its connections), then
answers again; `python -m loadgen run` (a real process, off a terminal) loads it. Chromium, driven over the
DevTools protocol (tests/browser.py), loads the report: no console message or
exception, every chart has marks, the latency line breaks at the outage, and a screenshot is saved
(tmp dir; also to $LOADGEN_REPORT_SCREENSHOT when set, which is how docs/loadgen-report.png is made:
`LOADGEN_REPORT_SCREENSHOT=docs/loadgen-report.png .venv/bin/python -m pytest tests/e2e/test_loadgen_report.py`).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from contract.routes import PREDICT, PREDICT_BATCH, PREDICT_ORIGINAL
from stack.processes import answers
from tests import processes
from tests.browser import inspect
from tests.prom import binary

UP_SECONDS, OUTAGE_SECONDS, RUN_SECONDS, RATE = 5.0, 4.0, 15, 40


@dataclass
class Flaky:
    """Answers 200 (a few 503) after a seeded random delay; from UP_SECONDS after the first request until
    OUTAGE_SECONDS later it is gone (nothing listens: connections are refused)."""

    port: int
    first: float | None = None
    answered: int = 0
    outage: tuple[float, float] | None = None  # (start, end), time.monotonic()
    rng: random.Random = field(default_factory=lambda: random.Random(13))

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        if request.method != "POST":  # the readiness probe
            return web.Response(text="ready")
        self.first = self.first or time.monotonic()
        await asyncio.sleep(min(self.rng.lognormvariate(-5.5, 1.0), 0.5))  # median 4 ms, a tail to 100s of ms
        self.answered += 1
        return web.json_response({"prediction": 1.0}, status=503 if self.answered % 97 == 0 else 200)

    async def serve(self, stop: asyncio.Event) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        runner = await self.start(app)
        while self.first is None or time.monotonic() - self.first < UP_SECONDS:
            await asyncio.sleep(0.01)
        start = time.monotonic()
        await runner.cleanup()  # stop listening, close every connection
        await asyncio.sleep(OUTAGE_SECONDS)
        runner = await self.start(app)
        self.outage = (start, time.monotonic())
        await stop.wait()
        await runner.cleanup()

    async def start(self, app: web.Application) -> web.AppRunner:
        runner = web.AppRunner(app, shutdown_timeout=0.1, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port, reuse_address=True).start()
        return runner


@contextmanager
def flaky_server() -> Iterator[Flaky]:
    server = Flaky(processes.free_port())
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(stop),), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not answers(f"http://127.0.0.1:{server.port}/"):
            assert time.monotonic() < deadline and thread.is_alive(), "the test server did not start"
            time.sleep(0.05)
        yield server
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        loop.close()


# --- the test ---------------------------------------------------------------------------------------------


def test_a_run_with_an_outage_reads_true_in_a_browser(tmp_path: Path) -> None:
    binary("chromium")  # skips on a developer's machine without it, fails in CI
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    with flaky_server() as server:
        run = subprocess.run(
            [sys.executable, "-m", "loadgen", "run", "--target", f"http://127.0.0.1:{server.port}",
             "--rate", str(RATE), "--duration", f"{RUN_SECONDS}s", "--timeout", "2s", "--seed", "13",
             "--workload", "insurance", "--threshold", "p(99)<250ms", "--threshold", "error_rate<0.01",
             "--out", str(out)],
            cwd=processes.ROOT, capture_output=True, text=True, timeout=90, env=env,
        )  # fmt: skip
        assert server.outage is not None, "the server never went down"
    assert run.returncode == 99, run.stderr  # the outage fails error_rate<0.01

    # Off a terminal: one progress line per 10 s of schedule, at its exact mark, within 80 columns.
    progress = [line for line in run.stderr.splitlines() if re.match(r"\s*\d+ s  ", line)]
    assert [line.split()[0] for line in progress] == ["10"], run.stderr
    assert all(len(line) <= 80 for line in progress)

    doc = json.loads((out / "results.json").read_text())
    series = doc["series"]
    down = [p for p in series if p["completed"] and all(o[0] not in "234" for o in p["outcomes"])]
    assert len(down) >= 2, series  # whole seconds with failures only
    assert all(p["p50_ms"] is None and p["max_ms"] is None for p in down)  # no latency point, not a zero
    assert sum(1 for p in series if p["p50_ms"] is not None) >= RUN_SECONDS - OUTAGE_SECONDS - 2
    weights = {request["path"]: request["weight"] for request in doc["settings"]["workload"]}
    assert weights == {PREDICT: 8, PREDICT_BATCH: 1, PREDICT_ORIGINAL: 1} and doc["settings"]["client"]

    page = (out / "report.html").read_text()
    for heading in ("Routes", "Outcomes", "Failures by kind", "In flight and dropped", "Run"):
        assert f"<h2>{heading}</h2>" in page
    assert "connect" in page and "/v1/predict/batch" in page

    screenshot = tmp_path / "report.png"
    seen = asyncio.run(inspect(out / "report.html", screenshot, tmp_path / "chromium"))
    found, noise = seen.value, seen.noise
    assert noise == [], noise
    assert len(found) == 5 and all(c["marks"] > 0 and c["width"] > 0 for c in found), found
    latency = next(c for c in found if c["title"].startswith("Latency"))
    assert latency["lines"] >= 4 * 2, latency  # each percentile's line is broken by the outage
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 20_000
    if target := os.environ.get("LOADGEN_REPORT_SCREENSHOT"):
        shutil.copyfile(screenshot, processes.ROOT / target)
