"""`python -m loadgen daemon`: steady load until stopped, with its own /metrics.

It keeps its schedule whatever the target does: a target that is down costs "connect" errors, not
the schedule, and traffic resumes by itself when the target is back. SIGTERM or SIGINT stops the
schedule, waits for the requests in flight (up to LOADGEN_DRAIN_SECONDS) and exits 0. Memory stays
flat: the recorder's histograms have a fixed size and it keeps no time series here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import signal
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from loadgen import metrics, workers
from loadgen.client import make_client
from loadgen.deck import Deck
from loadgen.engine import Engine
from loadgen.recorder import Point, Recorder, percentiles
from loadgen.scenario import DAEMON_WORKLOAD, Scenario, load
from loadgen.schedule import Arrivals, Constant
from loadgen.settings import LoadgenSettings
from loadgen.workload import set_option

log = logging.getLogger("loadgen.daemon")

#: Seconds between folds of the per-second histograms into the totals (a scrape sees at most this old).
FOLD_SECONDS = 1.0
#: Folds between the daemon's progress log lines (a minute).
LOG_EVERY_FOLDS = 60


def scenario_from(settings: LoadgenSettings) -> Scenario:
    if settings.scenario is not None:
        return load(settings.scenario)
    scenario = Scenario(
        description=f"constant {settings.rate:g} req/s",
        profile=Constant(rate=settings.rate),
        arrivals="poisson",
        workload=str(settings.workload or DAEMON_WORKLOAD),
        max_in_flight=settings.max_in_flight,
        max_connections=settings.max_connections,
        timeout=settings.timeout,
        idle_timeout=settings.idle_timeout,
    )
    requests = set_option(scenario.workload, "invalid_fraction", settings.invalid_fraction, required=False)
    return scenario.model_copy(update={"workload": requests})


async def _fold(engine: Engine, recorder: Recorder) -> None:
    """Fold the per-second histograms into the totals; log a line now and then."""
    n = 0
    while True:
        await asyncio.sleep(FOLD_SECONDS)
        n += 1
        recorder.tick(engine.elapsed(), engine.target_rate(), engine.scheduled, engine.sent, engine.dropped)
        if n % LOG_EVERY_FOLDS == 0:
            _log_line(engine)


async def serve(settings: LoadgenSettings) -> int:
    scenario = scenario_from(settings)
    if settings.workers > 1 and scenario.seed is None:  # every worker must deal the same schedule and deck
        scenario = scenario.model_copy(update={"seed": random.SystemRandom().randrange(2**32)})
    deck = Deck(scenario.workload, seed=scenario.seed)
    recorder = Recorder(series_limit=0)
    loop = asyncio.get_running_loop()
    if settings.workers == 1:
        arrivals = Arrivals(
            scenario.profile, scenario.arrivals, seed=scenario.seed, looped=True, scale=1 / settings.rate_split
        )
        async with make_client(
            settings.target,
            timeout=scenario.timeout,
            kind=settings.client,
            idle_seconds=scenario.idle_timeout,
            max_connections=scenario.max_connections,
        ) as client:
            # Around the clock: never keep a core busy to shave µs off the schedule (see Engine).
            engine = Engine(client, deck, arrivals, recorder, max_in_flight=scenario.max_in_flight, precise=False)
            async with _metrics(settings, scenario, engine, engine.stop):
                folder = loop.create_task(_fold(engine, recorder))
                try:
                    drained = await engine.run(drain=settings.drain_seconds)
                finally:
                    folder.cancel()
            counts: metrics.Source = engine
    else:
        job = workers.Job(
            scenario, deck, settings.target, settings.client, (0, 1), None, None, drain=settings.drain_seconds,
            looped=True, precise=False, scale=1 / settings.rate_split,
        )  # fmt: skip
        pool = workers.Pool(workers.jobs(job, settings.workers), recorder, _log_every_minute)
        async with _metrics(settings, scenario, pool.totals, pool.stop):
            drained = await pool.run()
        counts = pool.totals
    # The final tally, as JSON: a soak test's accounting compares it with the service's own counts.
    log.info(
        "stopped: scheduled=%d sent=%d dropped=%d finished=%d; %s; outcomes=%s",
        counts.scheduled, counts.sent, counts.dropped, recorder.completed,
        "all in-flight requests finished" if drained else f"{counts.in_flight} still in flight after the drain",
        json.dumps(recorder.outcome_totals(), sort_keys=True),
    )  # fmt: skip
    return 0


def _log_every_minute(point: Point, totals: workers.Totals) -> None:
    if round(point.t) % (FOLD_SECONDS * LOG_EVERY_FOLDS) == 0:
        _log_line(totals)


def _log_line(source: metrics.Source) -> None:
    recorder = source.recorder
    log.info(
        "scheduled=%d sent=%d dropped=%d in_flight=%d errors=%d p99_ms=%.1f outcomes=%s",
        source.scheduled, source.sent, source.dropped, source.in_flight, recorder.errors,
        percentiles(recorder.latency, [99])[0] / 1000, recorder.outcome_totals(),
    )  # fmt: skip


@contextlib.asynccontextmanager
async def _metrics(settings: LoadgenSettings, scenario: Scenario, source: metrics.Source,
                   stop: Callable[[], None]) -> AsyncIterator[None]:  # fmt: skip
    """Serve /metrics and /healthz while the load runs; SIGTERM/SIGINT call `stop`."""
    loop = asyncio.get_running_loop()
    registry = metrics.registry(source)

    async def metrics_endpoint(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/metrics", metrics_endpoint)
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.metrics_host, settings.metrics_port).start()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    log.info(
        "load on %s: %s (1/%d of it here, %d worker processes), %s arrivals; metrics on http://%s:%d/metrics",
        settings.target, scenario.description, settings.rate_split, settings.workers, scenario.arrivals,
        settings.metrics_host, settings.metrics_port,
    )  # fmt: skip
    try:
        yield
    finally:
        await runner.cleanup()
