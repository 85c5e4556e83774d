"""Pacing: an admitted request's task is started a few milliseconds of work at a time, so the loop's turns stay
short and its sockets are read often.

The event loop runs, in one turn, every task that became ready before the turn, and only then polls its
sockets again. Started all at once, a turn's admissions (the admission bound's worth of work: 50 ms) made the
next turn that long, and every request arriving meanwhile, a shed one included, waited for it before it was
even read: a 503 took as long as an admission's wait (the overload bench: 503 p99 100 ms at 3x). Started at
most `budget` seconds of predicted work a turn (a fortieth of the bound, 1.25 ms), the loop polls its sockets
every few ms: sheds are answered within that, and the admitted requests wait here, in order, where their wait is
predicted (`Admission.pending` counts them until their task starts) and measured (the Gate) as before.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from service.admission import Admission

#: The share of the admission bound a loop turn may start. A shed waits for the turn in which it arrives to end:
#: the client's 503 p99 at 3x, two 15 s runs each, was 12-14 ms at a tenth (5 ms of work a turn), 8-62 ms at a
#: twentieth (one run with a stall), 4.7-5.0 ms at a fortieth. More turns cost an epoll call each: nothing to see.
TURN_SHARE = 0.025


class Pacer:
    """One worker's queue of admitted requests waiting for their task."""

    def __init__(self, admission: Admission) -> None:
        self.admission = admission
        self.budget = admission.limit * TURN_SHARE  # 0 (shedding off): everything starts at once, as uvicorn does
        self.waiting: deque[Callable[[], None]] = deque()
        self._scheduled = False

    def submit(self, loop: asyncio.AbstractEventLoop, start: Callable[[], None]) -> None:
        """Start `start()` (which creates the request's task) this turn or a later one, in order."""
        if not self.budget:
            start()
            return
        self.waiting.append(start)
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._turn, loop)

    def _turn(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start this turn's share; the rest waits for the next turn (after the loop has polled its sockets)."""
        waiting, cost = self.waiting, self.admission.cost
        share = len(waiting) if cost <= 0 else max(1, int(self.budget / cost))  # (no cost measured: all)
        try:
            for _ in range(min(len(waiting), share)):
                start = waiting.popleft()
                try:
                    start()
                except Exception as exc:  # one request's start failing must not stop the others': the loop reports it
                    loop.call_exception_handler({"message": "starting an admitted request failed", "exception": exc})
        finally:  # whatever happened, the requests still waiting get a turn
            if waiting:
                loop.call_soon(self._turn, loop)
            else:
                self._scheduled = False
