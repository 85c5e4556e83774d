"""Worker processes: one schedule split across processes, each with its own event loop and connections.

Every worker builds the same schedule (same profile, same seed) and keeps its share of it: arrivals k,
k+n, k+2n, ... for worker k of n, dealing the deck in the same order (schedule.Arrivals and
Engine take `share=(k, n)`), so together they send exactly what one process would. The schedule starts at
one instant for all (time.perf_counter is the system's monotonic clock, the same in every process).

Once a second each worker hands the parent its `recorder.Second` (the non-zero counts of its histograms
and its counters' increments) with its schedule counters; the parent adds up the seconds of all workers
bucket by bucket into its own Recorder and closes the second there. The merged histograms are the sums
of the workers' counts, exactly what one recorder would have counted, so the live view, the closing
table, the reports and the daemon's /metrics read one recorder whatever the number of workers.

The parent owns the signals: workers ignore SIGINT and SIGTERM (a terminal's Ctrl-C reaches the whole
process group) and stop when the parent says so; a worker whose parent is gone exits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing
import multiprocessing.connection
import os
import signal
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from typing import Any

from loadgen.client import make_client
from loadgen.deck import Deck
from loadgen.engine import Engine, clock
from loadgen.recorder import Point, Recorder, Second
from loadgen.scenario import Scenario
from loadgen.schedule import Arrivals, peak_rate

#: `auto` runs one worker when the schedule never asks more than this (req/s): one process holds it with
#: room to spare, and more would only cost start-up time and connections.
ONE_WORKER_RATE = 1000.0
#: Seconds between every worker being ready and the schedule's common start (the start message's trip).
START_DELAY = 0.05

Connection = multiprocessing.connection.Connection


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity: a container's or taskset's limit counts)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1  # pragma: no cover (not Linux)


def default_workers(scenario: Scenario) -> int:
    """`--workers auto`: one per usable core, but one when the scenario never asks more than ONE_WORKER_RATE."""
    return 1 if peak_rate(scenario.profile) <= ONE_WORKER_RATE else usable_cores()


def run_loop(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine on uvloop (asyncio's own loop where uvloop is missing)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover (not on Windows)
        return asyncio.run(coro)
    return uvloop.run(coro)


@dataclass
class Job:
    """What one worker plays (sent to its process)."""

    scenario: Scenario
    deck: Deck
    target: str
    client_kind: str
    share: tuple[int, int]
    duration: float | None
    requests: int | None  # the whole schedule's bound; this worker's share of it is in `own_requests`
    drain: float | None = None
    looped: bool = False
    precise: bool = True
    scale: float = 1.0

    @property
    def own_requests(self) -> int | None:
        """Of the schedule's first `requests` arrivals, how many are this share's (k, k+n, ... below it)."""
        if self.requests is None:
            return None
        k, n = self.share
        return max(0, math.ceil((self.requests - k) / n))

    @property
    def max_in_flight(self) -> int:
        """The in-flight bound, split (rounded up) so that together the workers hold as many as one would."""
        return max(1, math.ceil(self.scenario.max_in_flight / self.share[1]))

    @property
    def max_connections(self) -> int | None:
        """The connection bound, split like the in-flight bound."""
        bound = self.scenario.max_connections
        return None if bound is None else max(1, math.ceil(bound / self.share[1]))


def jobs(job: Job, n: int) -> list[Job]:
    """The n shares of one job."""
    return [replace(job, share=(k, n)) for k in range(n)]


@dataclass
class Counters:
    """A worker's schedule counters at one instant."""

    scheduled: int = 0
    sent: int = 0
    dropped: int = 0
    in_flight: int = 0
    elapsed: float = 0.0
    window: float = 0.0
    rate: float = 0.0

    @classmethod
    def of(cls, engine: Engine, shares: int) -> Counters:
        """(Each worker plays 1/`shares` of the schedule's rate.)"""
        return cls(engine.scheduled, engine.sent, engine.dropped, engine.in_flight, engine.elapsed(), engine.window,
                   engine.target_rate() / shares)  # fmt: skip


# --- the worker's side --------------------------------------------------------------------------------------


def watch(loop: asyncio.AbstractEventLoop, conn: Connection, callback: Callable[..., None], *args: Any) -> None:
    """Call back when `conn` has a message, and keep its sends blocking.

    uvloop makes a watched descriptor non-blocking, and a send of a second's histograms larger than the pipe's
    buffer then fails with EAGAIN (seen at saturation, while the other side was busy): a blocking send waits for
    the reader instead. Reads are unaffected: the callback polls before each recv."""
    loop.add_reader(conn.fileno(), callback, *args)
    os.set_blocking(conn.fileno(), True)


async def work(conn: Connection, job: Job) -> None:
    """A worker's life: warm up, say ready, start at the parent's instant, send a Second a second, stop when
    told (or at the schedule's end), drain, send the last one."""
    loop = asyncio.get_running_loop()
    recorder = Recorder(series_limit=0)
    scenario = job.scenario
    arrivals = Arrivals(scenario.profile, scenario.arrivals, seed=scenario.seed, looped=job.looped, scale=job.scale,
                        share=job.share)  # fmt: skip
    start: asyncio.Future[float] = loop.create_future()
    async with make_client(
        job.target,
        timeout=scenario.timeout,
        kind=job.client_kind,
        idle_seconds=scenario.idle_timeout,
        max_connections=job.max_connections,
    ) as client:
        engine = Engine(client, job.deck, arrivals, recorder, max_in_flight=job.max_in_flight,
                        precise=job.precise, share=job.share)  # fmt: skip

        def on_message() -> None:
            try:
                while conn.poll():
                    message = conn.recv()
                    if message[0] == "start" and not start.done():
                        start.set_result(message[1])
                    elif message[0] == "stop":
                        engine.stop()
                        if not start.done():
                            start.set_result(clock())
            except (EOFError, OSError):  # the parent is gone: nobody to report to
                os._exit(1)

        async def starting() -> float:
            conn.send(("ready",))
            return await start

        async def ticker() -> None:
            await engine.begun()
            n = 1
            while True:
                await asyncio.sleep(max(0.0, engine.started + n - clock()))
                conn.send(("second", n, recorder.take(), Counters.of(engine, job.share[1])))
                n += 1

        watch(loop, conn, on_message)
        seconds = loop.create_task(ticker())
        try:
            drained = await engine.run(duration=job.duration, requests=job.own_requests, drain=job.drain,
                                       start=starting)  # fmt: skip
        finally:
            seconds.cancel()
            loop.remove_reader(conn.fileno())
        conn.send(("end", recorder.take(), Counters.of(engine, job.share[1]), drained))


def child(conn: Connection, job: Job) -> None:
    """The worker process's entry point."""
    for sig in (signal.SIGINT, signal.SIGTERM):  # the parent decides when to stop
        signal.signal(sig, signal.SIG_IGN)
    try:
        run_loop(work(conn, job))
    except Exception as exc:  # one line to the parent, which reports it and stops the run
        conn.send(("error", f"worker {job.share[0]}: {type(exc).__name__}: {exc}"))
    finally:
        conn.close()


# --- the parent's side --------------------------------------------------------------------------------------


class WorkerFailed(RuntimeError):
    pass


@dataclass
class Totals:
    """The workers' schedule counters summed, read like an Engine's (progress, summary, daemon /metrics)."""

    recorder: Recorder
    parts: list[Counters]
    started: float = 0.0
    window: float = 0.0

    @property
    def scheduled(self) -> int:
        return sum(c.scheduled for c in self.parts)

    @property
    def sent(self) -> int:
        return sum(c.sent for c in self.parts)

    @property
    def dropped(self) -> int:
        return sum(c.dropped for c in self.parts)

    @property
    def in_flight(self) -> int:
        return sum(c.in_flight for c in self.parts)

    def elapsed(self) -> float:
        return clock() - self.started if self.started else 0.0

    def target_rate(self) -> float:
        return sum(c.rate for c in self.parts)


@dataclass
class _Pending:
    seconds: list[Second] = field(default_factory=list)
    counters: dict[int, Counters] = field(default_factory=dict)


class Pool:
    """Starts one process per job, relays start and stop, and merges their seconds into `recorder`.

    `on_point(point, totals)` is called for every merged second (the live view)."""

    def __init__(self, jobs: list[Job], recorder: Recorder,
                 on_point: Callable[[Point, Totals], None] | None = None) -> None:  # fmt: skip
        self.jobs = jobs
        self.recorder = recorder
        self.on_point = on_point
        self.totals = Totals(recorder, [Counters() for _ in jobs])
        self.drained = True
        self._conns: list[Connection] = []
        self._processes: list[Any] = []  # the spawn context's Process objects
        self._ready: set[int] = set()
        self._ended: set[int] = set()
        self._got = [0] * len(jobs)  # the last second each worker sent
        self._pending: dict[int, _Pending] = {}
        self._next = 1  # the next second to close
        self._done: asyncio.Future[None] | None = None
        self._stopping = False

    async def run(self) -> bool:
        """Run the workers to the end of the schedule (or stop()); True when every request sent has finished."""
        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        # spawn, not fork: a forked child would inherit this process's running event loop.
        context = multiprocessing.get_context("spawn")
        for i, job in enumerate(self.jobs):
            parent_end, child_end = context.Pipe()
            process = context.Process(target=child, args=(child_end, job), name=f"loadgen-worker-{i}", daemon=True)
            process.start()
            child_end.close()
            self._conns.append(parent_end)
            self._processes.append(process)
            watch(loop, parent_end, self._on_message, i)
        try:
            await self._done
        finally:
            for conn in self._conns:
                loop.remove_reader(conn.fileno())
            for process in self._processes:  # joined off the loop: the daemon's /metrics keeps answering
                await loop.run_in_executor(None, process.join, 5)
                if process.is_alive():  # pragma: no cover (a worker that does not end)
                    process.kill()
            for conn in self._conns:
                conn.close()
        return self.drained

    def stop(self) -> None:
        """Stop scheduling in every worker (their requests in flight still finish and are counted)."""
        self._stopping = True  # (a worker still starting up is told when it says it is ready)
        for i, conn in enumerate(self._conns):
            if i not in self._ended:
                with contextlib.suppress(OSError):  # a worker already gone
                    conn.send(("stop",))

    def kill(self) -> None:
        """End every worker at once (a second Ctrl-C)."""
        for process in self._processes:
            if process.is_alive():
                process.kill()

    def _fail(self, text: str) -> None:
        self.kill()
        if self._done is not None and not self._done.done():
            self._done.set_exception(WorkerFailed(text))

    def _on_message(self, i: int) -> None:
        conn = self._conns[i]
        try:
            while conn.poll():
                self._handle(i, conn.recv())
        except (EOFError, OSError) as exc:
            if i not in self._ended:
                self._fail(f"worker {i} exited without finishing (exit code {self._processes[i].exitcode}, {exc!r})")
            asyncio.get_running_loop().remove_reader(conn.fileno())

    def _handle(self, i: int, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "ready":
            self._ready.add(i)
            if self._stopping:
                self._conns[i].send(("stop",))
            if len(self._ready) == len(self.jobs):
                self.totals.started = start = clock() + START_DELAY
                for conn in self._conns:
                    with contextlib.suppress(OSError):  # a worker stopped before the start has ended
                        conn.send(("start", start))
        elif kind == "second":
            _, n, second, counters = message
            pending = self._pending.setdefault(n, _Pending())
            pending.seconds.append(second)
            pending.counters[i] = counters
            self._got[i] = n
            self.totals.parts[i] = counters
            self._close_seconds()
        elif kind == "end":
            _, second, counters, drained = message
            self._ended.add(i)
            self.totals.parts[i] = counters
            self.drained = self.drained and drained
            self._pending.setdefault(math.inf, _Pending()).seconds.append(second)  # type: ignore[arg-type]
            self._close_seconds()
            if len(self._ended) == len(self.jobs):
                self._finish()
        elif kind == "error":
            self._fail(message[1])

    def _close_seconds(self) -> None:
        """Close every second all running workers have sent (a worker that ended sends no more)."""
        live = [i for i in range(len(self.jobs)) if i not in self._ended]
        while self._next in self._pending and all(self._got[i] >= self._next for i in live):
            self._tick(self._pending.pop(self._next))
            self._next += 1

    def _tick(self, pending: _Pending) -> None:
        for second in pending.seconds:
            self.recorder.absorb(second)
        totals = self.totals
        # The schedule counters as they stood when each worker closed this second.
        parts = [pending.counters.get(i, c) for i, c in enumerate(totals.parts)]
        point = self.recorder.tick(
            max(c.elapsed for c in parts), sum(c.rate for c in parts), sum(c.scheduled for c in parts),
            sum(c.sent for c in parts), sum(c.dropped for c in parts), sum(c.in_flight for c in parts),
        )  # fmt: skip
        if self.on_point is not None:
            self.on_point(point, totals)

    def _finish(self) -> None:
        """Every worker has ended: what is left (their last partial second) goes in; the caller closes it."""
        for n in sorted(self._pending):
            for second in self._pending[n].seconds:
                self.recorder.absorb(second)
        self._pending.clear()
        self.totals.window = max(c.window for c in self.totals.parts)
        assert self._done is not None
        if not self._done.done():
            self._done.set_result(None)
