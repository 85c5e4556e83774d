"""Worker processes: shares of the schedule, one worker's life over its pipe (in-process), and a pool of real
processes whose merged run sends exactly the one-process schedule (tests/e2e/test_loadgen.py compares the
merged percentiles with one process's against a target of known latency)."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvloop

from loadgen import deck, workers
from loadgen.deck import Deck
from loadgen.engine import clock
from loadgen.recorder import Point, Recorder
from loadgen.scenario import Scenario
from loadgen.schedule import Constant, Users
from tests.unit.loadgen import doubles
from tests.unit.loadgen.raw_http import RawServer, server_thread


@pytest.fixture(autouse=True)
def small_decks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deck, "DECK_SIZE", 64)


@pytest.fixture(scope="module")
def server() -> Iterator[RawServer]:
    with server_thread() as s:
        yield s


def job(target: str, rate: float, **fields: Any) -> workers.Job:
    scenario = Scenario(profile=Constant(rate=rate), workload=doubles.specs("/v1/predict", "/v1/predict/batch"),
                        seed=5, max_in_flight=fields.pop("max_in_flight", 100),
                        max_connections=fields.pop("max_connections", None))  # fmt: skip
    dealt = Deck(scenario.workload, seed=5, size=64)
    return workers.Job(scenario, dealt, target, "fast", (0, 1), fields.pop("duration", None),
                       fields.pop("requests", None), **fields)  # fmt: skip


def test_shares_bounds_and_the_default_count(monkeypatch: pytest.MonkeyPatch) -> None:
    shares = workers.jobs(job("http://x", 10, requests=7, max_in_flight=5, max_connections=4), 3)
    assert [j.share for j in shares] == [(0, 3), (1, 3), (2, 3)]
    assert [j.own_requests for j in shares] == [3, 2, 2]  # arrivals 0,3,6 / 1,4 / 2,5
    assert [j.max_in_flight for j in shares] == [2, 2, 2] and job("x", 1).own_requests is None
    assert [j.max_connections for j in shares] == [2, 2, 2] and job("x", 1).max_connections is None
    assert workers.usable_cores() == len(os.sched_getaffinity(0))
    monkeypatch.setattr(workers, "usable_cores", lambda: 6)
    assert workers.default_workers(Scenario(profile=Constant(rate=workers.ONE_WORKER_RATE))) == 1
    assert workers.default_workers(Scenario(profile=Users(users=[1, 9000], step=1))) == 6


def test_one_workers_life_over_its_pipe(server: RawServer) -> None:
    """Ready once warm, starts at the parent's instant, a Second a second, stops when told, then its last one."""
    parent, child = multiprocessing.Pipe()
    work = job(server.url, 200, duration=30.0)
    work.share = (1, 2)

    async def go() -> list[Any]:
        task = asyncio.create_task(workers.work(child, work))
        received = [await asyncio.to_thread(parent.recv)]
        parent.send(("start", clock() + 0.01))
        received.append(await asyncio.to_thread(parent.recv))
        parent.send(("stop",))
        received.append(await asyncio.to_thread(parent.recv))
        await asyncio.wait_for(task, 10)
        return received

    first = len(server.requests)
    ready, second, end = asyncio.run(go())
    assert ready == ("ready",) and second[:2] == ("second", 1)
    counters: workers.Counters = end[2]
    assert end[0] == "end" and end[3] is True and counters.rate == 100  # half of the schedule's 200 req/s
    assert 90 <= second[3].scheduled <= 110 and counters.sent == counters.scheduled == len(server.requests) - first
    done = sum(second[2].outcomes.values()) + sum(end[1].outcomes.values())
    assert done == counters.sent and set(second[2].outcomes) == {("/v1/predict", "200"), ("/v1/predict/batch", "200")}
    # Share 1 of 2 deals the one-process deck's requests 1, 3, 5, ...
    bodies = [r.partition(b"\r\n\r\n")[2] for r in server.requests[first:]]
    assert bodies == [work.deck.requests[i % 64].body for i in range(1, 2 * len(bodies), 2)]


def test_a_pool_of_two_sends_exactly_the_one_process_schedule(server: RawServer) -> None:
    recorder, points = Recorder(), []
    pool = workers.Pool(workers.jobs(job(server.url, 50, duration=1.3), 2), recorder,
                        lambda point, totals: points.append((point, totals.scheduled)))  # fmt: skip
    first = len(server.requests)
    assert asyncio.run(pool.run()) is True
    totals = pool.totals
    assert totals.scheduled == totals.sent == recorder.completed == 65 == len(server.requests) - first  # 0..1.28 s
    assert 1.2 <= totals.window <= 1.3 and totals.target_rate() == 50 and totals.in_flight == 0
    bodies = sorted(r.partition(b"\r\n\r\n")[2] for r in server.requests[first:])
    assert bodies == sorted(pool.jobs[0].deck.requests[i % 64].body for i in range(65))
    # One closed second; the request due at exactly 1.00 s may fire before or after the workers' tick reads it.
    assert [(p.t // 1) for p, _ in points] == [1] and points[0][1] in (50, 51) and isinstance(points[0][0], Point)
    # The last partial second is in, waiting for the caller's closing tick (as after Engine.run).
    # (The closed second holds 50 latencies, or 51 when the request due at 1.00 s finished before the tick.)
    assert recorder.outcome_totals() == {"200": 65} and recorder.latency.get_total_count() in (50, 51)
    recorder.tick(totals.window, 50, totals.scheduled, totals.sent, totals.dropped)
    assert recorder.latency.get_total_count() == 65


def test_a_worker_that_fails_fails_the_run() -> None:
    pool = workers.Pool([job("ftp://127.0.0.1:9", 10, duration=1.0)], Recorder())
    with pytest.raises(workers.WorkerFailed, match="worker 0: ValueError: unsupported target"):
        asyncio.run(pool.run())


def test_a_stop_before_the_workers_are_up_reaches_them(server: RawServer) -> None:
    """A Ctrl-C while the processes start: each is told as soon as it is ready, and nothing is scheduled."""
    pool = workers.Pool([job(server.url, 100, duration=30.0)], Recorder())
    pool.stop()
    assert asyncio.run(asyncio.wait_for(pool.run(), 60)) is True
    assert pool.totals.scheduled == 0 and pool.totals.window < 0.1


def test_a_watched_pipe_sends_more_than_its_buffer_while_the_reader_is_late() -> None:
    """uvloop makes a watched descriptor non-blocking: a send larger than the pipe's buffer must still wait for
    the reader rather than fail with EAGAIN (a worker's second of histograms at saturation)."""
    mine, theirs = multiprocessing.Pipe()
    big = b"x" * (8 << 20)
    got: list[bytes] = []

    def late_reader() -> None:
        time.sleep(0.2)
        if theirs.poll(5):
            got.append(theirs.recv_bytes())

    async def send() -> None:
        workers.watch(asyncio.get_running_loop(), mine, lambda: None)
        reader = threading.Thread(target=late_reader, daemon=True)
        reader.start()
        try:
            mine.send_bytes(big)
        finally:
            asyncio.get_running_loop().remove_reader(mine.fileno())
            mine.close()  # a failed send leaves half a message: the reader's recv ends at the close
        reader.join(10)

    uvloop.run(send())
    assert got == [big]
