"""The open-loop engine with a fake clock and a client whose responses the test hands out one by one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvloop

from loadgen import engine as engine_module
from loadgen.client import Done
from loadgen.deck import Deck
from loadgen.engine import Engine
from loadgen.recorder import Recorder, percentiles
from loadgen.schedule import Arrivals, Constant
from tests.unit.loadgen.doubles import FakeClock, HeldClient, deck

START = 1000.0  # the fake clock's reading when the schedule starts


@pytest.fixture(scope="module")
def payloads() -> Deck:
    return deck("/v1/predict", "/v1/predict/batch")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock(START)
    monkeypatch.setattr(engine_module, "clock", fake)
    return fake


@pytest.mark.parametrize(
    ("rate", "share", "bound", "warm"),
    [(1.0, (0, 1), 10, 10), (1.0, (0, 1), 1000, 16), (20_000.0, (0, 1), 1000, 100), (20_000.0, (1, 2), 1000, 50),
     (20_000.0, (0, 1), 60, 60)],
)  # fmt: skip
def test_warm_connections_cover_a_hiccup_at_the_peak_rate(
    payloads: Deck, rate: float, share: tuple[int, int], bound: int, warm: int
) -> None:
    """16, or the requests due in 5 ms at this worker's share of the peak rate, never above the in-flight bound."""
    arrivals = Arrivals(Constant(rate=rate), "constant", share=share)
    engine = Engine(HeldClient(), payloads, arrivals, Recorder(), max_in_flight=bound, share=share)
    assert engine.warm_connections() == warm


def test_responses_send_what_fell_due_and_latency_counts_from_the_schedule(payloads: Deck, clock: FakeClock) -> None:
    """One request a second, the target answers late: each answer sends the next one on the spot, and
    its latency is counted from its scheduled time, not from when it went out (no coordinated omission)."""
    client, recorder = HeldClient(), Recorder()
    engine = Engine(client, payloads, Arrivals(Constant(rate=1.0), "constant"), recorder, max_in_flight=10)

    async def go() -> bool:
        run = asyncio.create_task(engine.run(requests=3, drain=5))
        await engine.begun()
        assert [s.scheduled for s in client.sent] == [START]  # the first one at once
        clock.t = START + 1.25  # the second fell due at +1 s; its send waits for the loop...
        client.finish(0)  # ...or for a response, which sends it right away
        assert [s.scheduled for s in client.sent] == [START, START + 1.0]
        clock.t = START + 2.5
        client.finish(1)
        assert len(client.sent) == 3 and engine.scheduled == 3  # the request limit
        engine.stop()
        await asyncio.sleep(0.01)
        assert not run.done()  # the last one is still out: the run drains it
        client.finish(2, "503")
        return await asyncio.wait_for(run, 5)

    assert asyncio.run(go()) is True
    assert client.warmed == min(10, Engine.WARM_CONNECTIONS)
    assert [s.wire for s in client.sent] == [r.path.encode() + b" " + r.body for r in payloads.requests[:3]]
    assert (engine.scheduled, engine.sent, engine.dropped, engine.in_flight) == (3, 3, 0, 0)
    recorder.tick(engine.elapsed(), engine.target_rate(), engine.scheduled, engine.sent, engine.dropped)
    # Latencies from the scheduled starts: 1.25 s, 2.5 - 1 = 1.5 s, and 2.5 - 2 = 0.5 s for the last, which
    # failed (503): it is beside the answered ones, not among them.
    assert percentiles(recorder.latency, [0, 100]) == [
        pytest.approx(1_250_000, rel=1e-3),
        pytest.approx(1_500_000, rel=1e-3),
    ]
    assert percentiles(recorder.failed_latency, [0, 100]) == [pytest.approx(500_000, rel=1e-3)] * 2
    # Schedule lag: 0, 0.25 s (sent by the first answer) and 0.5 s (by the second).
    assert percentiles(recorder.lag, [100])[0] == pytest.approx(500_000, rel=1e-3)
    assert recorder.outcome_totals() == {"200": 2, "503": 1} and recorder.errors == 1


def test_requests_due_at_the_in_flight_bound_are_dropped_and_counted(payloads: Deck, clock: FakeClock) -> None:
    client, recorder = HeldClient(), Recorder()
    engine = Engine(client, payloads, Arrivals(Constant(rate=1.0), "constant"), recorder, max_in_flight=1)

    async def go() -> bool:
        run = asyncio.create_task(engine.run(requests=3, drain=5))
        await engine.begun()
        clock.t = START + 2.5  # two more fell due while the only slot was taken
        client.finish(0)  # frees the slot: the first of them goes, the second is dropped
        engine.stop()
        client.finish(1)
        return await asyncio.wait_for(run, 5)

    assert asyncio.run(go()) is True
    assert (engine.scheduled, engine.sent, engine.dropped) == (3, 2, 1)
    assert len(client.sent) == 2


def test_a_drain_that_runs_out_says_so(payloads: Deck, clock: FakeClock) -> None:
    client = HeldClient()
    engine = Engine(client, payloads, Arrivals(Constant(rate=1.0), "constant"), Recorder(), max_in_flight=5)

    async def go() -> bool:
        run = asyncio.create_task(engine.run(drain=0.01))
        await engine.begun()
        engine.stop()  # cuts the wait for the next arrival short
        return await asyncio.wait_for(run, 5)

    assert asyncio.run(go()) is False
    assert engine.in_flight == 1 and engine.window == 0.0


@pytest.mark.parametrize("precise", [True, False])
def test_a_bounded_run_sends_exactly_its_schedule(payloads: Deck, precise: bool) -> None:
    """Real time, 50 ms: 200 req/s evenly spaced is 10 requests, however late the loop wakes up."""

    class Answering(HeldClient):
        def start(self, prepared: bytes, done: Done, route: str, scheduled: float) -> None:
            super().start(prepared, done, route, scheduled)
            asyncio.get_running_loop().call_soon(done, "200", route, scheduled)

    client, recorder = Answering(), Recorder()
    engine = Engine(client, payloads, Arrivals(Constant(rate=200), "constant"), recorder, max_in_flight=100,
                    precise=precise)  # fmt: skip
    assert engine.elapsed() == 0.0 and engine.target_rate() == 200
    assert asyncio.run(engine.run(duration=0.05)) is True
    assert (engine.scheduled, engine.sent, recorder.completed) == (10, 10, 10)
    assert 0.05 <= engine.window < 5  # the run waits out its duration
    assert [s.route for s in client.sent] == [payloads.requests[i % 4].route for i in range(10)]  # dealt round


class _Answering(HeldClient):
    def start(self, prepared: bytes, done: Done, route: str, scheduled: float) -> None:
        super().start(prepared, done, route, scheduled)
        asyncio.get_running_loop().call_soon(done, "200", route, scheduled)


@pytest.mark.parametrize("run", [asyncio.run, uvloop.run], ids=["asyncio", "uvloop"])
def test_a_precise_engine_sleeps_through_sub_millisecond_gaps(
    payloads: Deck, monkeypatch: pytest.MonkeyPatch, run: Callable[[Coroutine[Any, Any, bool]], bool]
) -> None:
    """2,000 req/s, every gap 500 µs, under the loop's timer resolution: the engine sleeps on its alarm instead of
    yielding to I/O over and over (a spinning core takes the CPU a target or a worker sharing it needs).
    Counted, not timed: the yields (asyncio.sleep(0)) a run makes, against the requests it sends."""
    yields = 0
    real_sleep = asyncio.sleep

    async def counting_sleep(seconds: float, *args: Any) -> Any:
        nonlocal yields
        yields += seconds == 0
        return await real_sleep(seconds, *args)

    monkeypatch.setattr(engine_module.asyncio, "sleep", counting_sleep)
    recorder = Recorder()
    engine = Engine(_Answering(), payloads, Arrivals(Constant(rate=2000), "constant"), recorder, max_in_flight=100)
    assert run(engine.run(duration=0.3)) is True
    assert engine.sent == recorder.completed == 600
    assert yields < 0.1 * engine.sent  # (without the alarm: several per request)
    recorder.tick(engine.elapsed(), 2000, engine.scheduled, engine.sent, engine.dropped)
    assert percentiles(recorder.lag, [50])[0] < 100_000  # sent on time, to well under 0.1 s
