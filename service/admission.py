"""Admission by time: a prediction that would wait in the worker longer than the bound is answered 503 at once.

Under CPU overload the queue is inside the event loop: in one turn the loop reads every ready socket and
makes a task of every complete request, then runs those tasks one after another. A count of predictions
in progress never sees that queue (each prediction runs to its end without awaiting anything); the time
a request waits does. So the protocol (service/protocol.py) stamps every request when the loop first sees
it (`Timing`, carried in the ASGI scope's extensions), and admission is decided twice:

- at arrival, in the protocol, without a task: the wait is predicted as the requests admitted and not yet
  started times the loop's time per request (`Admission.cost`, measured between consecutive starts while
  requests queue). Over the bound, the request is answered 503 with canned bytes, no ASGI task, no
  middleware: a shed costs a few µs beyond parsing it, so a worker overloaded threefold still spends most
  of its time on the predictions it admits.
- at the start of its task (`Gate`, the outermost ASGI layer): the real wait is known; past the latency
  objective the bound is half of (the prediction was wrong, and the request can no longer be answered in time),
  503 as well. Every started request's wait goes into the queue-delay histogram.

Probes, /metrics and the other routes are queued and measured but never shed. The bound is
SERVICE_MAX_QUEUE_DELAY_MS (default: half the strictest latency SLO threshold, contract/admission.py);
0 turns shedding by time off. Pacing (service/pacing.py) starts the admitted requests a fortieth of the bound's
work a loop turn, which keeps each turn short and bounds the part of the wait the worker cannot see: a request
waits in the kernel at most one turn.

A request whose client left (the connection closed or half-closed) or whose deadline (`X-Request-Timeout`)
passed is not predicted: `abandoned` is checked just before the model runs (service/api.py).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from contract.admission import QUEUE_DELAY_SHARE
from contract.routes import (
    ADMIN_FAULTS,
    HEALTHZ,
    METRICS,
    MODEL_INFO,
    PREDICTION_ROUTES,
    READYZ,
    UNMATCHED,
)
from service.observability.logging import logger
from service.observability.routes import METHODS

#: The scope["extensions"] key of a request's Timing (set by service/protocol.py).
TIMING = "service.timing"
SHED_DETAIL = b'{"detail":"overloaded: the request would wait longer than the service can answer in time, retry later"}'
SHEDDABLE = frozenset(PREDICTION_ROUTES)
#: Routes whose path is their template: a protocol-level answer names them; any other path is `unmatched`.
KNOWN_ROUTES = frozenset({*PREDICTION_ROUTES, MODEL_INFO, HEALTHZ, READYZ, METRICS, ADMIN_FAULTS})


@dataclass(frozen=True, slots=True)
class Routes:
    """Which paths admission may shed, and which it names in a label (any other path is `unmatched`).

    Our service's come from the contract (`SERVICE_ROUTES`); an app that calls `instrument(app)` gets its own,
    from its router (service/instrument.py)."""

    sheddable: frozenset[str]
    known: frozenset[str]

    def of(self, path: str) -> str:
        return path if path in self.known else UNMATCHED


SERVICE_ROUTES = Routes(SHEDDABLE, KNOWN_ROUTES)


@dataclass(slots=True)
class Timing:
    """One request's clock (time.perf_counter seconds)."""

    arrival: float  #: the request's first byte seen by the loop: where its duration starts
    ready: float = 0.0  #: its body complete: where its wait in the worker starts
    deadline: float | None = None  #: arrival + X-Request-Timeout, if the client sent one
    disconnected: bool = False  #: the client closed (or half-closed) its connection


def timing(scope: Scope) -> Timing | None:
    extensions = scope.get("extensions")
    return extensions.get(TIMING) if extensions else None


def abandoned(scope: Scope) -> str | None:
    """Why this request should not be predicted any more ("disconnect", "deadline"), or None."""
    t = timing(scope)
    if t is None:
        return None
    if t.disconnected:
        return "disconnect"
    if t.deadline is not None and time.perf_counter() >= t.deadline:
        return "deadline"
    return None


class Admission:
    """One worker's queue: the requests admitted and not yet started, and the loop's time per request."""

    #: Weight of a new measurement in the running mean of the time per request.
    ALPHA = 0.05
    #: The share of the bound a predicted wait may take. The real wait runs longer than the prediction (the gap
    #: between two starts, which `cost` learns, leaves out part of the turns' reading and shedding), and a
    #: stall (the machine, a GC) lengthens every wait in the queue: the Gate sheds what waited past the
    #: objective, after that whole wait, and those set the 503 p99. At 3x the capacity (15 s runs, two each)
    #: the Gate shed 305-1,155 requests at 80%, 37-180 at 60%, 61-110 at 40%; at 40% fewer were answered (the
    #: 200s: 43,000 against 52,000-58,000 at 60%), and a stall of 20 ms at moderate load had sheds begin
    #: (docs/performance.md).
    PREDICTED_SHARE = 0.6
    #: The time per request assumed before any is measured: pessimistic (a few times a prediction's), so the
    #: first burst a worker meets admits a few dozen, not all of it, while the real figure is learnt.
    FIRST_COST = 0.002

    def __init__(self, limit: float, predicted: bool = False) -> None:
        self.limit = limit  #: seconds; 0: never shed
        #: The real wait past which the Gate sheds a request at its start. Where arrival admission predicts (our
        #: protocol, `predicted`), the Gate is its backstop: a request that waited past the bound was mispredicted
        #: (a stall, a worker descheduled) but can still be answered within the latency objective the bound is a
        #: share of (contract/admission.py), and answering it costs a prediction, shedding it the wait the client
        #: already paid; past the objective it cannot, and is shed. Without a prediction (plain uvicorn) the Gate is
        #: the admission: the bound itself.
        self.late = limit / QUEUE_DELAY_SHARE if predicted else limit
        self.pending = 0
        self.cost = self.FIRST_COST
        self._last_start = 0.0
        self._last_shed = False  # the previous start was shed by the Gate (its gap is a shed's, not a request's)

    def admit(self, sheddable: bool) -> bool:
        """At arrival: False if the request would wait over the bound (it is then answered 503, never queued)."""
        if sheddable and self.limit and self.pending * self.cost > self.limit * self.PREDICTED_SHARE:
            return False
        self.pending += 1
        return True

    def start(self, now: float, ready: float) -> None:
        """At the start of an admitted request's task."""
        if self.pending:
            self.pending -= 1
        # Waiting since before the previous start: the loop was busy all that time, so the gap is what one
        # request costs it (an idle gap would make the loop look slower than it is).
        # A gap after a Gate shed is a shed's cost: learnt, it would make the queue look cheaper, admit more, and
        # have more shed at their start (which feeds on itself).
        if ready <= self._last_start and not self._last_shed:
            self.cost += (now - self._last_start - self.cost) * self.ALPHA
        self._last_start = now
        self._last_shed = False

    def shed_at_start(self) -> None:
        self._last_shed = True

    def over(self, wait: float) -> bool:
        return bool(self.limit) and wait > self.late


class Recorder:
    """The metrics and log line of a request answered outside the middleware (protocol level, or the gate)."""

    def __init__(self, record: bool) -> None:
        self.record = record
        self._children: dict[Any, Any] = {}
        self._metrics: Any = None
        self._log: Any = None  # bound at the first answer: logging is configured by then
        self._sheds: dict[str, tuple[int, float]] = {}

    @property
    def metrics(self) -> Any:
        if self._metrics is None:  # in a worker only: the metrics mode is chosen by then
            from service.observability import metrics

            self._metrics = metrics
        return self._metrics

    def answer(self, method: str, route: str, status: int, seconds: float, **fields: Any) -> None:
        if not self.record:
            return
        self.metrics.request_duration(method, route, status).observe(seconds)
        if self._log is None:
            self._log = logger()
        level = "warning" if status < 500 else "error"
        getattr(self._log, level)(
            "request",
            method=method if method in METHODS else "other",
            route=route,
            status_code=status,
            duration_ms=round(seconds * 1000, 3),
            **fields,
        )

    def shed(self, method: str, route: str, seconds: float) -> None:
        """A shed request: counted and timed each, logged in a summary line per route and second (`flush_sheds`).

        A line each would be the most expensive part of a shed (bench/shed_cost.py), paid exactly when the
        worker has no time to spare."""
        if not self.record:
            return
        self._child("shed", route).inc()
        self.metrics.request_duration(method, route, 503).observe(seconds)
        count, slowest = self._sheds.get(route, (0, 0.0))
        self._sheds[route] = (count + 1, max(slowest, seconds))

    def flush_sheds(self) -> None:
        """One line per route with sheds since the last flush (the worker's sweeper calls it every few 100 ms)."""
        if not self._sheds:
            return
        sheds, self._sheds = self._sheds, {}
        if self._log is None:
            self._log = logger()
        for route, (count, slowest) in sheds.items():
            self._log.warning("shed", route=route, status_code=503, count=count, slowest_ms=round(slowest * 1000, 3))

    def queue_delay(self, route: str, seconds: float) -> None:
        if self.record:
            self._child("queue", route).observe(seconds)

    def read_timeout(self, phase: str) -> None:
        if self.record:
            self._child("timeout", phase).inc()

    def abandoned(self, route: str, reason: str) -> None:
        if self.record:
            self._child("abandoned", route, reason).inc()

    def _child(self, kind: str, *labels: str) -> Any:
        key = (kind, *labels)
        child = self._children.get(key)
        if child is None:
            m = self.metrics
            family = {"shed": m.SHED, "queue": m.QUEUE_DELAY, "timeout": m.READ_TIMEOUTS, "abandoned": m.ABANDONED}
            child = self._children[key] = family[kind].labels(*labels)
        return child


def shed_response(retry_after: int, keep_alive: bool) -> bytes:
    """The canned 503 of a shed request."""
    return (
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
        b"retry-after: %d\r\n%s\r\n%s"
        % (
            len(SHED_DETAIL),
            retry_after,
            b"" if keep_alive else b"connection: close\r\n",
            SHED_DETAIL,
        )
    )


class Gate:
    """The outermost ASGI layer (the protocol puts it there): the request's real wait, measured at its start."""

    def __init__(
        self, app: ASGIApp, admission: Admission, recorder: Recorder, retry_after: int, routes: Routes = SERVICE_ROUTES
    ) -> None:
        self.app = app
        self.admission = admission
        self.recorder = recorder
        self.retry_after = b"%d" % retry_after
        self.routes = routes

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        t = timing(scope) if scope["type"] == "http" else None
        if t is None:
            return self.app(scope, receive, send)
        now = time.perf_counter()
        self.admission.start(now, t.ready)
        wait = now - t.ready
        path = scope["path"]
        route = self.routes.of(path)
        self.recorder.queue_delay(route, wait)
        if path in self.routes.sheddable and self.admission.over(wait):
            self.admission.shed_at_start()
            return self._shed(scope, send, route, t)
        return self.app(scope, receive, send)

    async def _shed(self, scope: Scope, send: Send, route: str, t: Timing) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(SHED_DETAIL)),
            (b"retry-after", self.retry_after),
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": SHED_DETAIL})
        self.recorder.shed(scope["method"], route, time.perf_counter() - t.arrival)
