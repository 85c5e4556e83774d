"""Admission by time under plain uvicorn: the ASGI-level stand-in for the protocol's arrival stamp.

Our HTTP protocol (service/protocol.py) stamps every request when the loop first sees it and puts the `Gate`
(service/admission.py) in front of the app. An app served by plain uvicorn has neither; `instrument(app)` then
makes this layer the app's outermost one: it stamps the request itself and hands it to a Gate of its own, which
measures the wait, records it (`http_server_queue_delay_seconds`) and sheds a prediction over the bound (503).

What it can see: uvicorn reads a turn's requests and makes a task of each, and the loop runs those tasks one
after the other in its next turn. The first request of a turn starts at once; each one after it has waited
at least since that start. So a request is stamped with the start of the first request of its turn (reset by a
callback queued behind them: it runs in the next turn). That is a lower bound of the real wait.

What is lost without the protocol, and with it comes back (`serve(app)` or `uvicorn_options(app)`,
service/serving.py): the time the turn spent reading and parsing before its first request started, so the wait
is under-measured and sheds come later; shedding at arrival with canned bytes and no task (here every shed costs
a task and an ASGI answer); 408 for a slow head or body, 414/431 while the head arrives, 413 while a body arrives
(BodyLimitMiddleware still refuses one the app would read); the connection cap; `X-Request-Timeout` deadlines;
and noticing a client that left before its request is predicted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from service.admission import TIMING, Gate, Timing


class TurnStamp:
    """The start of the first request of the loop's current turn.

    A request in the task that set the stamp is stamped anew: one task's requests run one after the other, none
    waits behind the one before it (an in-process client, such as a test's, may send many without the loop ever
    turning); under uvicorn every request has a task of its own."""

    def __init__(self) -> None:
        self._start: float | None = None
        self._task: asyncio.Task[Any] | None = None

    def __call__(self) -> float:
        task = asyncio.current_task()
        if self._start is not None and task is not self._task:
            return self._start
        if self._start is None:
            # Queued behind the tasks already ready in this turn: it runs in the next one.
            asyncio.get_running_loop().call_soon(self._clear)
        self._start, self._task = time.perf_counter(), task
        return self._start

    def _clear(self) -> None:
        self._start = self._task = None


class TurnAdmission:
    """The outermost ASGI layer of an instrumented app: a request the protocol did not stamp goes through `gate`.

    `app` is the rest of the app, `gate` a Gate in front of it."""

    def __init__(self, app: ASGIApp, gate: Gate) -> None:
        self.app = app
        self.gate = gate
        self.turn = TurnStamp()

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        extensions = scope.get("extensions")
        if extensions and TIMING in extensions:  # served by our protocol, whose own Gate admitted it already
            return self.app(scope, receive, send)
        start = self.turn()
        scope["extensions"] = {**(extensions or {}), TIMING: Timing(start, ready=start)}
        return self.gate(scope, receive, send)
