"""The service's HTTP protocol: uvicorn's httptools protocol with the head limits, overload and slow-client guards.

On top of service/http_limits.py (414, 431 while the head arrives), per connection:

- every request is stamped when the loop first sees it (`admission.Timing` in scope["extensions"]);
- its whole body is read before it is admitted: uvicorn starts the ASGI task at the end of the head, this
  protocol at the end of the body. A slow body holds no task, no admission slot and no model work, and a
  body over SERVICE_MAX_BODY_BYTES is refused (413) while it arrives;
- admission (service/admission.py): a prediction predicted to wait over the bound is answered 503 with
  canned bytes right here, and counted; the others get their task behind the `Gate`, a few ms of work a
  loop turn (service/pacing.py). Sheds are logged in
  one summary line per route every sweep (`Recorder.flush_sheds`), not a line each;
- time limits: a head must arrive within SERVICE_HEADER_TIMEOUT_SECONDS (from the connect, for the first
  request), a body within SERVICE_BODY_TIMEOUT_SECONDS of its head; else 408, counted, connection closed.
  One timer per worker (the sweeper) checks every connection a few times a second (no timer per request);
- at most SERVICE_MAX_CONNECTIONS connections per worker: one more is closed when accepted;
- `X-Request-Timeout: <duration>` (seconds, or e.g. `250ms`) sets the request's deadline; a malformed one, or
  one under the strictest latency objective (a deadline no answer could meet: its 504s would burn the
  availability SLO at any client's will), is refused (400). A client that closes (or half-closes) its
  connection marks its request abandoned;
- on shutdown, connections still sending a request are closed at once: they hold nothing worth waiting for;
- a response's head and body leave in one send (service/coalescing.py).

It overrides uvicorn's `_start_asgi_task`, `on_*` parser callbacks, `connection_made`, `connection_lost`,
`eof_received` and `shutdown`, each calling uvicorn's own; tests/unit/service/test_protocol.py fails if uvicorn
changes them. The per-request ones call the class they extend by name, not `super()` (service/http_limits.py says
why). `X-Request-Timeout` is read with Content-Length in one pass at the head's end, not in a callback per header.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from contract.admission import STRICTEST_LATENCY_SLO_SECONDS
from contract.durations import parse_duration
from contract.routes import UNMATCHED
from service.admission import SERVICE_ROUTES, TIMING, Admission, Gate, Recorder, Routes, Timing, shed_response
from service.coalescing import CoalescingTransport
from service.http_limits import LimitedHttpToolsProtocol
from service.observability.settings import InstrumentSettings
from service.pacing import Pacer
from service.settings import ServiceSettings

IDLE, HEAD, BODY, RUNNING = range(4)
DEADLINE_HEADER = b"x-request-timeout"
#: The shortest deadline accepted: the strictest latency objective.
MIN_DEADLINE_SECONDS = STRICTEST_LATENCY_SLO_SECONDS
#: The attribute of uvicorn's ServerState marking that its connections have a sweeper.
SWEEPER = "_service_sweeper"


@dataclass
class Guards:
    """One worker's settings and state of this protocol (a class attribute, read at the first connection)."""

    head_timeout: float
    body_timeout: float
    max_connections: int
    max_body_bytes: int
    retry_after: int
    admission: Admission
    recorder: Recorder
    pacer: Pacer
    gates: dict[int, Gate] = field(default_factory=dict)
    routes: Routes = SERVICE_ROUTES

    @classmethod
    def from_settings(cls, settings: InstrumentSettings, routes: Routes = SERVICE_ROUTES) -> Guards:
        admission = Admission(settings.queue_delay_limit_seconds, predicted=True)
        return cls(
            head_timeout=settings.header_timeout_seconds,
            body_timeout=settings.body_timeout_seconds,
            max_connections=settings.max_connections,
            max_body_bytes=settings.max_body_bytes,
            retry_after=settings.retry_after_seconds,
            admission=admission,
            recorder=Recorder(settings.instrumentation),
            pacer=Pacer(admission),
            routes=routes,
        )

    def gate(self, app: ASGIApp) -> Gate:
        gate = self.gates.get(id(app))
        if gate is None:
            gate = self.gates[id(app)] = Gate(app, self.admission, self.recorder, self.retry_after, self.routes)
        return gate

    @property
    def sweep_every(self) -> float:
        return min(0.5, max(0.05, min(self.head_timeout, self.body_timeout) / 10))


class ServiceProtocol(LimitedHttpToolsProtocol):
    """`--http service.protocol:ServiceProtocol` (python -m service sets it)."""

    guards: ClassVar[Guards | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cls = type(self)
        if cls.guards is None:
            cls.guards = Guards.from_settings(ServiceSettings())
        self._guards: Guards = cls.guards
        self.app = self._guards.gate(self.app)
        self._phase = HEAD
        self._since = time.perf_counter()  # when the current phase began
        self._began_request = False  # a byte of the current request has arrived
        self._timing: Timing | None = None
        self._deferred: tuple[RequestResponseCycle, Any] | None = None
        self._body_bytes = 0

    # --- connections -------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._guards.max_connections:
            transport.close()  # over the cap: nothing read, nothing answered
            return
        # Every write from here on (the responses', the protocol's own answers) goes through it, in order.
        self.transport = CoalescingTransport(transport, self.loop)
        state = self.server_state
        if not getattr(state, SWEEPER, False):  # one sweeper per server (its connections), started once
            setattr(state, SWEEPER, True)
            self.loop.call_later(self._guards.sweep_every, _sweep, self.loop, self.connections, self._guards)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timing is not None:
            self._timing.disconnected = True
        super().connection_lost(exc)

    def eof_received(self) -> None:
        # uvicorn closes the connection on a half-close too: the request cannot be answered any more.
        if self._timing is not None:
            self._timing.disconnected = True
        super().eof_received()

    def shutdown(self) -> None:
        self._guards.recorder.flush_sheds()  # the last summary line, before the sweeper stops with the loop
        cycle = self.cycle
        if self._phase in (HEAD, BODY) and (cycle is None or cycle.response_complete or self._waiting(cycle)):
            self.transport.close()  # still sending its request: nothing started, nothing to wait for
            return
        super().shutdown()

    # --- parser callbacks --------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        LimitedHttpToolsProtocol.on_message_begin(self)
        if self._refusal is not None:
            return
        now = self._began
        if self._phase != HEAD:
            self._phase, self._since = HEAD, now
        self._began_request = True
        self._body_bytes = 0
        self._timing = Timing(now)
        self.scope["extensions"] = {TIMING: self._timing}  # type: ignore[dict-item]  # an extension of ours

    def on_headers_complete(self) -> None:
        if self._refusal is not None:
            return
        self._phase, self._since = BODY, time.perf_counter()
        length, deadlines = _length_and_deadlines(self.headers)
        if deadlines and self._timing is not None and not self._set_deadline(self._timing, deadlines):
            return
        if length is not None and length > self._guards.max_body_bytes:
            self._in_head = False
            self._refuse(413, f"request body exceeds {self._guards.max_body_bytes} bytes (SERVICE_MAX_BODY_BYTES)")
            return
        LimitedHttpToolsProtocol.on_headers_complete(self)

    def _set_deadline(self, timing: Timing, values: list[bytes]) -> bool:
        """The request's deadline from its X-Request-Timeout fields (each is checked, the last one counts); False
        (and a 400) when one is refused."""
        for value in values:
            try:
                seconds = parse_duration(value.decode("ascii", "replace"))
            except ValueError as exc:
                self._refuse(400, f"X-Request-Timeout: {exc}")
                return False
            if seconds < MIN_DEADLINE_SECONDS:  # it could only ever pass: a 504 of the client's making
                self._refuse(400, f"X-Request-Timeout: under the minimum {MIN_DEADLINE_SECONDS * 1000:g}ms")
                return False
            timing.deadline = timing.arrival + seconds
        return True

    def on_body(self, body: bytes) -> None:
        if self._refusal is not None:
            return
        self._body_bytes += len(body)
        if self._body_bytes > self._guards.max_body_bytes:
            self._refuse(413, f"request body exceeds {self._guards.max_body_bytes} bytes (SERVICE_MAX_BODY_BYTES)")
            return
        LimitedHttpToolsProtocol.on_body(self, body)
        if self._deferred is not None:
            self.flow.resume_reading()  # the task reads nothing before the body is complete: keep reading

    def on_message_complete(self) -> None:
        if self._refusal is not None:
            return
        LimitedHttpToolsProtocol.on_message_complete(self)
        if self._timing is not None:
            self._timing.ready = time.perf_counter()  # its wait starts (a pipelined one's, behind the one before)
        self._phase = RUNNING
        deferred, self._deferred = self._deferred, None
        if deferred is not None:
            self._admit(*deferred)

    # --- admission ---------------------------------------------------------------------------------
    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        if cycle.more_body:  # uvicorn starts at the end of the head; the body is read first
            self._deferred = (cycle, app)
            if cycle.waiting_for_100_continue and not self.transport.is_closing():
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                cycle.waiting_for_100_continue = False
            return
        self._admit(cycle, app)

    def _waiting(self, cycle: RequestResponseCycle) -> bool:
        return self._deferred is not None and self._deferred[0] is cycle

    def _admit(self, cycle: RequestResponseCycle, app: Any) -> None:
        scope = cycle.scope
        extensions: Any = scope["extensions"]  # (ours holds a Timing: not an ASGI type)
        t: Timing = extensions[TIMING]
        path = scope["path"]
        # (Only a POST is shed with the canned bytes: a HEAD must get no body.)
        if self._guards.admission.admit(path in self._guards.routes.sheddable and scope["method"] == "POST"):
            start = LimitedHttpToolsProtocol._start_asgi_task
            self._guards.pacer.submit(self.loop, lambda: start(self, cycle, app))
            return
        keep_alive = cycle.keep_alive
        self.transport.write(shed_response(self._guards.retry_after, keep_alive))
        cycle.response_started = cycle.response_complete = True
        self._guards.recorder.shed(scope["method"], path, time.perf_counter() - t.arrival)
        if not keep_alive:
            self.transport.close()
        if self._phase == RUNNING:  # (else the phase is a pipelined request's, arriving already)
            self._phase = IDLE
        cycle.on_response()

    def on_response_complete(self) -> None:
        if self._phase == RUNNING:  # (a pipelined request may be arriving already)
            self._phase = IDLE
        LimitedHttpToolsProtocol.on_response_complete(self)

    # --- time limits -------------------------------------------------------------------------------
    def check_time(self, now: float) -> None:
        """Called by the worker's sweeper: 408 for a head or a body that takes too long."""
        if self._refusal is not None or self.transport.is_closing():
            return
        if self._phase == HEAD and now - self._since > self._guards.head_timeout:
            if not self._began_request:
                self.transport.close()  # connected and never sent a byte: no request to answer
                return
            self._timed_out("head", self._guards.head_timeout, "SERVICE_HEADER_TIMEOUT_SECONDS")
        elif self._phase == BODY and now - self._since > self._guards.body_timeout:
            self._timed_out("body", self._guards.body_timeout, "SERVICE_BODY_TIMEOUT_SECONDS")

    def _timed_out(self, phase: str, limit: float, setting: str) -> None:
        self._guards.recorder.read_timeout(phase)
        self._refuse(408, f"request {phase} not received within {limit:g} s ({setting})")
        self._answer(*self._refusal)  # type: ignore[misc]

    def _record(self, status: int, detail: str) -> None:
        recorder = self._guards.recorder
        routes = self._guards.routes
        route = routes.of(self.scope["path"]) if self._phase != HEAD and self.scope and "path" in self.scope else None
        try:
            method = self.parser.get_method().decode("ascii", "replace")
        except Exception:  # the request line itself was cut short: no method yet
            method = "other"
        recorder.answer(method, route or UNMATCHED, status, time.perf_counter() - self._began, refused=detail)


def _length_and_deadlines(headers: list[tuple[bytes, bytes]]) -> tuple[int | None, list[bytes]]:
    """Content-Length (None: absent or malformed, which httptools refuses with a 400 anyway) and the raw
    X-Request-Timeout fields, in one pass over the header fields."""
    length = None
    deadlines: list[bytes] = []
    for name, value in headers:
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                length = None
        elif name == DEADLINE_HEADER:
            deadlines.append(value)
    return length, deadlines


def _sweep(loop: asyncio.AbstractEventLoop, connections: set[Any], guards: Guards) -> None:
    now = time.perf_counter()
    for connection in list(connections):
        if isinstance(connection, ServiceProtocol):
            connection.check_time(now)
    guards.recorder.flush_sheds()
    loop.call_later(guards.sweep_every, _sweep, loop, connections, guards)
