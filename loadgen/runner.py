"""`python -m loadgen run`: one bounded load test, live progress, a closing table, files, a verdict."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console

from loadgen import report, workers
from loadgen.client import make_client
from loadgen.deck import Deck
from loadgen.engine import Engine, clock
from loadgen.progress import Progress
from loadgen.recorder import Point, Recorder
from loadgen.scenario import Scenario
from loadgen.schedule import Arrivals
from loadgen.thresholds import Threshold

#: Exit codes of `python -m loadgen run` (documented in the README and --help).
EXIT_OK = 0
EXIT_ERROR = 1  # unexpected failure
EXIT_USAGE = 2  # bad flags, scenario, threshold or target (argparse uses 2 as well)
EXIT_THRESHOLDS = 99  # the run completed and at least one threshold failed (as k6)
EXIT_INTERRUPTED = 105  # stopped early by SIGINT/SIGTERM: results written, marked interrupted (k6's code)
EXIT_FORCED = 130  # a second SIGINT/SIGTERM: out at once, nothing written (128 + SIGINT, as a shell reports it)

Counts = Engine | workers.Totals


class Stopper:
    """The first SIGINT/SIGTERM stops the schedule (what was measured is still reported, marked interrupted);
    a second one exits at once."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.interrupted = False
        self.stop: Callable[[], None] = lambda: None
        self.kill: Callable[[], None] = lambda: None

    def __call__(self) -> None:
        if not self.interrupted:
            self.interrupted = True
            self.console.print("stopping: finishing the requests in flight (again to quit at once)", highlight=False)
            self.stop()
            return
        self.kill()
        print("interrupted twice: quitting without results", file=sys.stderr, flush=True)
        os._exit(EXIT_FORCED)


class Shower:
    """Hands each closed second to the progress view, whoever closed it (the engine's ticker or the pool)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def __call__(self, point: Point, counts: Counts) -> None:
        self.progress.show(point)


async def _ticker(engine: Engine, recorder: Recorder, show: Shower) -> None:
    """Once a second of the schedule: close the recorder's second and show it."""
    await engine.begun()
    n = 1
    while True:
        await asyncio.sleep(max(0.0, engine.started + n - clock()))
        n += 1
        show(_tick(engine, recorder), engine)


def _tick(engine: Engine, recorder: Recorder) -> Point:
    return recorder.tick(
        engine.elapsed(), engine.target_rate(), engine.scheduled, engine.sent, engine.dropped, engine.in_flight
    )


async def _one_process(scenario: Scenario, deck: Deck, recorder: Recorder, target: str, client_kind: str,
                       show: Shower, stopper: Stopper) -> Counts:  # fmt: skip
    arrivals = Arrivals(scenario.profile, scenario.arrivals, seed=scenario.seed)
    loop = asyncio.get_running_loop()
    async with make_client(
        target,
        timeout=scenario.timeout,
        kind=client_kind,
        idle_seconds=scenario.idle_timeout,
        max_connections=scenario.max_connections,
    ) as client:
        engine = Engine(client, deck, arrivals, recorder, max_in_flight=scenario.max_in_flight)
        stopper.stop = engine.stop
        ticker = loop.create_task(_ticker(engine, recorder, show))
        try:
            await engine.run(duration=scenario.run_length(), requests=scenario.requests)
        finally:
            ticker.cancel()
        _tick(engine, recorder)
    return engine


async def _processes(scenario: Scenario, deck: Deck, recorder: Recorder, target: str, client_kind: str,
                     show: Shower, stopper: Stopper, n: int) -> Counts:  # fmt: skip
    job = workers.Job(scenario, deck, target, client_kind, (0, 1), scenario.run_length(), scenario.requests)
    pool = workers.Pool(workers.jobs(job, n), recorder, show)
    stopper.stop, stopper.kill = pool.stop, pool.kill
    await pool.run()
    totals = pool.totals
    recorder.tick(max(c.elapsed for c in totals.parts), totals.target_rate(), totals.scheduled, totals.sent,
                  totals.dropped, totals.in_flight)  # fmt: skip
    return totals


async def execute(
    scenario: Scenario,
    *,
    target: str,
    thresholds: Sequence[Threshold],
    out: Path | None,
    client_kind: str = "auto",
    quiet: bool = False,
    n_workers: int = 1,
) -> int:
    console = Console(stderr=True, quiet=quiet)
    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    if n_workers > 1 and scenario.seed is None:  # every worker must deal the same schedule and deck
        scenario = scenario.model_copy(update={"seed": random.SystemRandom().randrange(2**32)})
    deck = Deck(scenario.workload, seed=scenario.seed)
    recorder = Recorder()
    loop = asyncio.get_running_loop()
    stopper = Stopper(console)
    for sig in (signal.SIGINT, signal.SIGTERM):  # stop early, still report what was measured
        loop.add_signal_handler(sig, stopper)
    try:
        with Progress(console) as progress:
            show = Shower(progress)
            if n_workers == 1:
                counts = await _one_process(scenario, deck, recorder, target, client_kind, show, stopper)
            else:
                counts = await _processes(scenario, deck, recorder, target, client_kind, show, stopper, n_workers)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    summary = report.summarize(
        counts, recorder, target=target, scenario=scenario.description or "flags", started_at=started_at,
        interrupted=stopper.interrupted, workers=n_workers,
    )  # fmt: skip
    report.check(summary, recorder, thresholds)
    Console(quiet=quiet).print(report.table(summary))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        settings = scenario.model_dump(mode="json", by_alias=True) | {"client": client_kind, "workers": n_workers}
        report.write_json(out / "results.json", summary, recorder.series, settings)
        report.write_csv(out / "results.csv", recorder.series)
        report.write_html(out / "report.html", summary, recorder.series, settings)
        console.print(
            f"results: {out / 'results.json'}, {out / 'results.csv'}, {out / 'report.html'}", soft_wrap=True
        )  # paths stay copyable
    if stopper.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if summary.passed else EXIT_THRESHOLDS
