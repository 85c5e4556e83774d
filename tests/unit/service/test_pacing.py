"""Pacing: admitted requests start in order, a fortieth of the admission bound's work a loop turn; the rest waits
for a later turn (after the loop has polled its sockets); with shedding off, at once."""

from __future__ import annotations

import asyncio

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


def test_a_turn_starts_a_fortieth_of_the_bounds_work_in_order() -> None:
    admission = Admission(0.2)
    admission.cost = 0.001  # 5 ms of the 200 ms bound: 5 a turn
    turns = _turns(Pacer(admission), 12)
    assert turns == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]]


def test_a_request_costlier_than_the_turn_still_starts_one_a_turn() -> None:
    admission = Admission(0.05)
    admission.cost = 0.02
    assert _turns(Pacer(admission), 3) == [[0], [1], [2]]


def test_with_shedding_off_everything_starts_at_once() -> None:
    pacer = Pacer(Admission(0.0))
    started: list[int] = []
    pacer.submit(asyncio.new_event_loop(), lambda: started.append(1))
    assert started == [1] and not pacer.waiting


def test_a_start_that_fails_is_reported_and_the_others_still_start() -> None:
    admission = Admission(0.05)
    admission.cost = 0.001
    pacer = Pacer(admission)
    started: list[int] = []
    reported: list[dict[str, object]] = []

    def broken() -> None:
        raise RuntimeError("the connection went away")

    async def go() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: reported.append(context))
        pacer.submit(loop, broken)
        for i in range(6):
            pacer.submit(loop, lambda i=i: started.append(i))  # type: ignore[misc]
        for _ in range(4):
            await asyncio.sleep(0)

    asyncio.run(go())
    assert started == list(range(6)) and not pacer.waiting
    assert len(reported) == 1 and isinstance(reported[0]["exception"], RuntimeError)
