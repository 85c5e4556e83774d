"""`python -m loadgen run`: one bounded load test, live progress, a closing table, files, a verdict."""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from loadgen import report
from loadgen.client import make_client
from loadgen.engine import Engine, clock
from loadgen.payloads import Payloads
from loadgen.progress import Progress
from loadgen.recorder import Point, Recorder
from loadgen.scenario import Scenario
from loadgen.schedule import Arrivals
from loadgen.thresholds import Threshold

#: Exit codes of `python -m loadgen run` (documented in the README and --help).
EXIT_OK = 0
EXIT_ERROR = 1  # unexpected failure
EXIT_USAGE = 2  # bad flags, scenario or threshold (argparse uses 2 as well)
EXIT_THRESHOLDS = 99  # the run completed and at least one threshold failed (as k6)


async def _ticker(engine: Engine, recorder: Recorder, progress: Progress) -> None:
    """Once a second of the schedule: close the recorder's second and show it."""
    await engine.begun()
    n = 1
    while True:
        await asyncio.sleep(max(0.0, engine.started + n - clock()))
        n += 1
        progress.show(_tick(engine, recorder))


def _tick(engine: Engine, recorder: Recorder) -> Point:
    return recorder.tick(
        engine.elapsed(), engine.target_rate(), engine.scheduled, engine.sent, engine.dropped, engine.in_flight
    )


async def execute(
    scenario: Scenario,
    *,
    target: str,
    thresholds: Sequence[Threshold],
    out: Path | None,
    client_kind: str = "auto",
    quiet: bool = False,
) -> int:
    console = Console(stderr=True, quiet=quiet)
    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    payloads = Payloads(
        scenario.routes, batch_size=scenario.batch_size, invalid_fraction=scenario.invalid_fraction, seed=scenario.seed
    )
    arrivals = Arrivals(scenario.profile, scenario.arrivals, seed=scenario.seed)
    recorder = Recorder()
    loop = asyncio.get_running_loop()
    async with make_client(target, timeout=scenario.timeout, kind=client_kind) as client:
        engine = Engine(client, payloads, arrivals, recorder, max_in_flight=scenario.max_in_flight)
        for sig in (signal.SIGINT, signal.SIGTERM):  # stop early, still report what was measured
            loop.add_signal_handler(sig, engine.stop)
        with Progress(console) as progress:
            ticker = loop.create_task(_ticker(engine, recorder, progress))
            try:
                await engine.run(duration=scenario.run_length(), requests=scenario.requests)
            finally:
                ticker.cancel()
        _tick(engine, recorder)
    summary = report.summarize(
        engine, recorder, target=target, scenario=scenario.description or "flags", started_at=started_at
    )
    report.check(summary, recorder, thresholds)
    Console(quiet=quiet).print(report.table(summary))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        settings = scenario.model_dump(mode="json", by_alias=True) | {"client": client_kind}
        report.write_json(out / "results.json", summary, recorder.series, settings)
        report.write_csv(out / "results.csv", recorder.series)
        report.write_html(out / "report.html", summary, recorder.series, settings)
        console.print(f"results: {out / 'results.json'}, {out / 'results.csv'}, {out / 'report.html'}")
    return EXIT_OK if summary.passed else EXIT_THRESHOLDS
