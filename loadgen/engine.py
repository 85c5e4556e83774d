"""The open-loop engine: fires each request at its scheduled time, whatever the earlier ones are doing.

Latency is measured from the SCHEDULED start, not from when the request was finally sent: if the
generator (or a stalled target) holds a request back, the wait counts against the target, as it would
for a real user (no coordinated omission). When `max_in_flight` requests are already out, a due
request is counted as dropped, never silently skipped. Schedule lag (send time minus scheduled time)
is recorded so a generator that cannot keep up shows it.

Due requests are sent from two places: the schedule's own loop, and the callback of every finished
response, so that a burst of responses, which keeps the event loop busy for a while, does not hold
the schedule back. The loop sleeps until the next request is due; when that is under a millisecond
away (the loop's timer resolution) a `precise` engine (a load test) sleeps on an `Alarm` (a timerfd: to
tens of µs, the core free meanwhile for a target or another worker sharing it), or just yields to I/O and
looks again where there is none or the wait is shorter than the alarm's precision (a busy core); a
daemon's engine sleeps that millisecond anyway (above 1,000 req/s the responses it waits for send what
falls due meanwhile).
"""

from __future__ import annotations

import asyncio
import gc
import math
import time
from collections.abc import Awaitable, Callable

from loadgen.alarm import Alarm
from loadgen.client import Client
from loadgen.deck import Deck
from loadgen.recorder import Recorder
from loadgen.schedule import Arrivals, peak_rate

clock = time.perf_counter


def _wake_up(future: asyncio.Future[None]) -> None:
    if not future.done():  # stop() may have been first
        future.set_result(None)


class Engine:
    #: Connections opened before the first request (more are opened on demand): at least WARM_CONNECTIONS, and
    #: enough for the requests due in WARM_SECONDS at the schedule's peak rate. A hiccup of the loop (a GC pass,
    #: the scheduler) leaves that many due at once; opening connections for them then, at ~100 µs of the
    #: loop's time each, would stretch the hiccup into a stall.
    WARM_CONNECTIONS = 16
    WARM_SECONDS = 0.005
    #: A wait shorter than this is spent yielding to I/O: the alarm's own precision (the kernel's timer
    #: slack) is about as long.
    SPIN_SECONDS = 50e-6

    def __init__(
        self,
        client: Client,
        deck: Deck,
        arrivals: Arrivals,
        recorder: Recorder,
        *,
        max_in_flight: int,
        precise: bool = True,
        share: tuple[int, int] = (0, 1),
    ) -> None:
        self.client = client
        self.precise = precise
        # The wire form of every request, built once: the hot path only indexes this list.
        self._deck = [(r.route, client.prepare(r.path, r.body, r.method, r.headers, r.check)) for r in deck.requests]
        self.arrivals = arrivals
        self.recorder = recorder
        self.max_in_flight = max_in_flight
        self.scheduled = 0
        self.sent = 0
        self.dropped = 0
        self.in_flight = 0
        self.started = 0.0
        self.window = 0.0  # seconds the schedule ran (the denominator of the achieved rate)
        self._stopping = False
        self._end = self._limit = self._due = math.inf  # set by run()
        # One of n worker processes (share k of n) deals requests k, k+n, ... of the one-process deck order.
        self._next = share[0] % len(self._deck)  # index of the next request in the deck
        self._step = share[1]
        self._begun = asyncio.Event()
        self._idle: asyncio.Event | None = None
        self._wake: asyncio.Future[None] | None = None
        self._alarm: Alarm | None = None

    def warm_connections(self) -> int:
        arrivals = self.arrivals  # (its rate is this worker's share of the schedule's)
        peak = peak_rate(arrivals.profile) * arrivals.scale / arrivals.share[1]
        return min(self.max_in_flight, max(self.WARM_CONNECTIONS, math.ceil(peak * self.WARM_SECONDS)))

    def elapsed(self) -> float:
        return clock() - self.started if self.started else 0.0

    async def begun(self) -> None:
        """Wait until the schedule starts (connections are warmed first)."""
        await self._begun.wait()

    def target_rate(self) -> float:
        return self.arrivals.rate(self.elapsed())

    def stop(self) -> None:
        """Stop scheduling (in-flight requests go on; `run` returns once they are done)."""
        self._stopping = True
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    async def run(
        self, *, duration: float | None = None, requests: int | None = None, drain: float | None = None,
        start: Callable[[], Awaitable[float]] | None = None,
    ) -> bool:  # fmt: skip
        """Schedule until `duration` seconds, `requests` scheduled requests, or stop(); then wait for the
        in-flight requests (at most `drain` seconds). True when everything sent has finished.

        `start`, once the connections are warm, gives the clock() instant the schedule starts at (worker
        processes share one); by default it starts at once."""
        loop = asyncio.get_running_loop()
        await self.client.warm(self.warm_connections())
        self._idle = asyncio.Event()
        self._idle.set()
        self._end = math.inf if duration is None else duration
        self._limit = math.inf if requests is None else requests
        self._due = self.arrivals.next()
        # What exists now (modules, the deck) lives for the whole run: keep it out of the garbage
        # collector's full passes, which would otherwise stall the schedule for milliseconds.
        gc.freeze()
        self.started = clock() if start is None else await start()
        self._begun.set()
        self._alarm = Alarm.open(loop, self._rang) if self.precise else None
        try:
            await self._schedule(loop)
        finally:
            if self._alarm is not None:
                self._alarm.close()
                self._alarm = None
        self.window = max(0.0, min(self.elapsed(), self._end))
        self._stopping = True
        try:
            await asyncio.wait_for(self._idle.wait(), drain)
        except TimeoutError:
            return False
        return True

    async def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        while not self._stopping:
            self._fire()
            if self.scheduled >= self._limit:
                break
            if self._due >= self._end:  # the schedule is over: wait out the duration (a stop() cuts it short)
                # The loop's timers may fire up to its clock resolution early: sleep again until the end.
                while self._end != math.inf and not self._stopping and self.elapsed() < self._end:
                    await self._sleep(loop, self._end - self.elapsed())
                break
            await self._sleep(loop, self._due - self.elapsed())

    async def _sleep(self, loop: asyncio.AbstractEventLoop, seconds: float) -> None:
        """Sleep until the next arrival (a response's callback may send it first); stop() cuts a sleep short."""
        alarm = None
        if seconds <= 0.001:  # below the loop's timer resolution
            if self.precise:
                if self._alarm is None or seconds < self.SPIN_SECONDS:  # just let I/O run, then look again
                    await asyncio.sleep(0)
                    return
                alarm = self._alarm
            else:
                seconds = 0.001
        self._wake = loop.create_future()
        if alarm is not None:
            alarm.set(seconds)
            await self._wait()
            return
        handle = loop.call_later(seconds, _wake_up, self._wake)
        try:
            await self._wait()
        finally:
            handle.cancel()

    async def _wait(self) -> None:
        try:
            await self._wake  # type: ignore[misc]
        finally:
            self._wake = None

    def _rang(self) -> None:
        """The alarm: the next request is due (unless a response's callback has sent it already)."""
        if self._wake is not None:
            _wake_up(self._wake)

    def _fire(self) -> None:
        """Send every request that is due (several at high rates, or to catch up after a stall).

        The state lives on the engine, not in locals, so a response finishing inside a send (which would
        call back into here) cannot send the same slot twice.
        """
        start = self.started
        now = clock() - start
        if self._due > now:
            return
        deck, n, send, done = self._deck, len(self._deck), self.client.start, self._done
        while self._due <= now and self._due < self._end and self.scheduled < self._limit:
            self.scheduled += 1
            if self.in_flight >= self.max_in_flight:
                self.dropped += 1
            else:
                self.in_flight += 1
                self.sent += 1
                self._idle.clear()  # type: ignore[union-attr]
                route, wire = deck[self._next]
                following = self._next + self._step
                self._next = following if following < n else following % n
                at = start + self._due
                self.recorder.record_lag(clock() - at)
                send(wire, done, route, at)
            self._due = self.arrivals.next()

    def _done(self, outcome: str, route: str, scheduled: float) -> None:
        now = clock()
        self.recorder.record(route, outcome, now - scheduled)
        self.in_flight -= 1
        if self.in_flight == 0 and self._idle is not None:
            self._idle.set()
        # Responses come in bursts that can keep the loop busy for milliseconds: send what fell due
        # meanwhile right here, instead of after the burst (that wait would be schedule lag).
        if now - self.started >= self._due and not self._stopping:
            self._fire()
