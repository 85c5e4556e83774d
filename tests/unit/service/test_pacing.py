"""Pacing: admitted requests start in order, a tenth of the admission bound's work a loop turn; the rest waits
for a later turn (after the loop has polled its sockets); with shedding off, at once."""

from __future__ import annotations

import asyncio

import pytest

from service import pacing
from service.admission import Admission
from service.pacing import Pacer


def _turns(pacer: Pacer, requests: int) -> list[list[int]]:
    """Which requests started in each loop turn."""

    async def go() -> list[list[int]]:
        loop = asyncio.get_running_loop()
        started: list[int] = []
        for i in range(requests):
            pacer.submit(loop, lambda i=i: started.append(i))  # type: ignore[misc]
        turns = [list(started)]
        while pacer.waiting or len(started) < requests:
            seen = len(started)
            await asyncio.sleep(0)
            turns.append(started[seen:])
        return [t for t in turns if t]

    return asyncio.run(go())


@pytest.fixture
def fixed_cost(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing learnt: the turns' shares follow the cost the test sets."""
    monkeypatch.setattr(Admission, "learn", lambda self, seconds: None)


@pytest.mark.usefixtures("fixed_cost")
def test_a_turn_starts_a_tenth_of_the_bounds_work_in_order() -> None:
    admission = Admission(0.05)
    admission.cost = 0.001  # 5 ms of the 50 ms bound: 5 a turn
    turns = _turns(Pacer(admission), 12)
    assert turns == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]]


@pytest.mark.usefixtures("fixed_cost")
def test_a_request_costlier_than_the_turn_still_starts_one_a_turn() -> None:
    admission = Admission(0.05)
    admission.cost = 0.02
    assert _turns(Pacer(admission), 3) == [[0], [1], [2]]


def test_with_shedding_off_everything_starts_at_once() -> None:
    pacer = Pacer(Admission(0.0))
    started: list[int] = []
    pacer.submit(asyncio.new_event_loop(), lambda: started.append(1))
    assert started == [1] and not pacer.waiting


def test_the_time_per_request_is_learnt_from_busy_turns_only(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    monkeypatch.setattr(pacing, "clock", lambda: now[0])
    admission = Admission(0.05)
    admission.cost = 0.001  # 5 a turn
    pacer = Pacer(admission)

    async def go() -> None:
        loop = asyncio.get_running_loop()
        for _ in range(8):
            pacer.submit(loop, lambda: None)
        await asyncio.sleep(0)  # turn 1 (t=0): 5 started, 3 left
        assert admission.cost == 0.001 and len(pacer.waiting) == 3
        now[0] = 0.015  # the loop took 15 ms to come back: 3 ms per request started
        await asyncio.sleep(0)  # turn 2: learns, starts the rest
        assert admission.cost == pytest.approx(0.001 + (0.003 - 0.001) * Admission.ALPHA)
        learnt = admission.cost
        now[0] = 5.0  # idle for seconds, then one request: nothing learnt from the idle gap
        pacer.submit(loop, lambda: None)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert admission.cost == learnt and not pacer.waiting

    asyncio.run(go())
