"""The fast client: HTTP/1.1 keep-alive on asyncio protocols, responses parsed by llhttp (httptools).

A load generator's own cost per request bounds the highest rate it can hold on schedule. Here the request
bytes are built once up front (`prepare`), each response is parsed in C with two Python callbacks (head
complete, message complete), and the outcome goes to the engine's callback without a task or a future.
One request at a time per connection; connections are pooled and a request takes one at random: at a
steady rate every pooled connection stays in use, so the pool keeps as many as the busiest moment needed,
a reserve for the next burst of due requests. (Taken last used first, the pool shrank to the few a steady
rate keeps busy, the rest were retired as idle, and every burst, a loop stall of a few ms at 15,000 req/s,
opened hundreds of connections at ~100 µs of the loop's time each: the stall fed itself for 100-300 ms.
Taken in turn, least recently used first, the connections would carry equal counts of requests, and a
server that closes a connection after N requests, nginx's `keepalive_requests` (1000 by default), would
close them all within one round: the same burst of connects. At random their counts spread apart.)

What llhttp decides: framing (Content-Length, chunked in any spelling, neither: until the server closes),
bodyless statuses (1xx, 204, 304), keep-alive (`Connection: close` in any case or list, HTTP/1.0), and
every malformed or conflicting head (one `protocol` outcome). What this module decides: interim 1xx
responses are skipped for the final one; a HEAD response ends at its head; a connection that ends before
any byte of the response arrived is retried once on a fresh connection (a keep-alive connection the server
closed just as the request went out, or a server that drops connections right after accepting them);
idle connections are retired before the server's keep-alive timeout can close them under a request.

With `max_connections` the pool is bounded, as a load balancer's or a service mesh's is: a request that finds no
idle connection while that many are open waits for one in a FIFO queue (its wait counts in its latency, which
runs from the scheduled start, and its timeout runs from when it was due to be sent). Unbounded, every burst of
due requests opens connections, and against an overloaded server thousands of them queue in its kernel's accept
queue where it cannot see them; bounded, the requests queue here, where they are timed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import deque
from collections.abc import Sequence
from random import random
from urllib.parse import urlsplit

import httptools

from loadgen.checks import Check
from loadgen.http.api import BODYLESS, Done, Header
from loadgen.http.errors import CLOSED, CONNECT, OTHER, PROTOCOL, RESET, TIMEOUT

#: Default longest idle time before a pooled connection is retired instead of reused. Servers close idle
#: keep-alive connections (gunicorn after 2 s, uvicorn 5 s, nginx 75 s); a request written just as that
#: close arrives would fail for nothing (it would be retried, but pay a second connect).
IDLE_SECONDS = 1.0

_now = time.monotonic
_HEAD = ord("H")  # the first byte of a HEAD request (no other method this client sends starts with H)

#: Every status a success, no body read: a request prepared without a check of its own.
_ANY = Check(frozenset(range(100, 600)))
#: A request as `prepare` builds it once: its bytes on the wire and the check its response must pass.
Prepared = tuple[bytes, Check]


class _ClosedEarly(ConnectionError):
    """The connection was closed before a request could be written to it (as the server accepted it)."""


class _Halt(Exception):
    """Raised from a parser callback to stop llhttp where a response ends without its help."""


def _keep_alive_timeout(value: bytes) -> float | None:
    """The `timeout=N` of a `Keep-Alive` header value (RFC 2068 19.7.1), if it has a valid one."""
    for part in value.split(b","):
        name, _, number = part.partition(b"=")
        if name.strip().lower() == b"timeout":
            with contextlib.suppress(ValueError):
                seconds = float(number.strip())
                if seconds >= 0:
                    return seconds
    return None


class _HeaderScan:
    """Collects the framing headers of the final response in a head (parsed by llhttp, off the hot path)."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.names: set[bytes] = set()
        self.final = False

    def on_header(self, name: bytes, _value: bytes) -> None:
        self.names.add(name.lower())

    def on_headers_complete(self) -> None:
        if self.parser.get_status_code() >= 200:
            self.final = True
            raise _Halt
        self.names.clear()  # an interim response: the final one follows


def _ends_at_close(head: bytes) -> bool:
    """Whether the final response in `head` has its body delimited by the end of the connection (neither
    Content-Length nor Transfer-Encoding): then a close after its head completes it."""
    scan = _HeaderScan()
    with contextlib.suppress(httptools.HttpParserError):
        scan.parser.feed_data(head)
    return scan.final and not scan.names & {b"content-length", b"transfer-encoding"}


class _Sniffer:
    """The parser callbacks for the first response on a connection: also read `Keep-Alive: timeout=N`.
    A header callback doubles the parse's cost, so later responses on the connection go without it."""

    __slots__ = ("conn", "on_headers_complete", "on_message_complete")

    def __init__(self, conn: _Connection) -> None:
        self.conn = conn
        self.on_headers_complete = conn.on_headers_complete
        self.on_message_complete = conn.on_message_complete

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) == 10 and name.lower() == b"keep-alive":
            seconds = _keep_alive_timeout(value)
            if seconds is not None:  # retire well before the server closes: half its timeout
                self.conn.idle_limit = min(self.conn.idle_limit, seconds / 2)


class _Keeper(_Sniffer):
    """The parser callbacks for a response whose check reads its body: the body is kept (and the keep-alive
    header sniffed, as for a first response). Only such requests pay for a body callback."""

    __slots__ = ()

    def on_body(self, data: bytes) -> None:
        self.conn.body += data


class _Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    __slots__ = ("body", "check", "client", "complete", "deadline", "done", "head", "head_bytes", "headed",
                 "idle_limit", "idle_since", "keep", "keeping", "lost", "parser", "retried", "route", "scheduled",
                 "sniffing", "status", "transport", "wire")  # fmt: skip

    def __init__(self, client: FastClient) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(_Sniffer(self))
        self.sniffing = True
        self.keeping = False  # the parser's callbacks keep the body (_Keeper)
        self.idle_limit = client.idle_seconds
        self.idle_since = 0.0
        self.done: Done | None = None
        self.wire: Prepared = (b"", _ANY)
        self.check = _ANY
        self.body = b""
        self.route = ""
        self.scheduled = 0.0
        self.deadline = 0.0
        self.retried = False
        self.head = False
        self.lost = False
        self._reset()

    def _reset(self) -> None:
        """Ready for the next response."""
        self.body = b""
        self.status = 0
        self.headed = False  # the final response's head is complete
        self.head_bytes = b""  # what arrived before that (all of it, usually one read)
        self.complete = False
        self.keep = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(
        self, prepared: Prepared, done: Done, route: str, scheduled: float, deadline: float, retried: bool
    ) -> None:
        self.wire, self.done, self.route, self.scheduled, self.deadline = prepared, done, route, scheduled, deadline
        wire, self.check = prepared
        self.retried = retried
        self.head = wire[0] == _HEAD
        if self.check.path and not self.keeping:  # the check reads the body: a parser that keeps it
            self.parser = httptools.HttpResponseParser(_Keeper(self))
            self.sniffing = self.keeping = True
        try:
            self.transport.write(wire)  # type: ignore[union-attr]
        except RuntimeError:  # uvloop: closed under us (nothing of a response came): connection_lost decides
            if self.lost:  # it has been and gone: decide now
                self.connection_lost(None)

    # --- llhttp callbacks (inside feed_data) ---

    def on_headers_complete(self) -> None:
        if self.complete:  # a second response in the same read: nobody asked for it
            raise _Halt
        self.status = status = self.parser.get_status_code()
        if status >= 200:
            self.headed = True
            if self.head:  # a HEAD response has no body whatever its head says; llhttp cannot be told
                self.complete = True
                self.keep = self.parser.should_keep_alive()
                raise _Halt

    def on_message_complete(self) -> None:
        if self.status >= 200:  # else an interim response (100, 103): the final one follows
            self.complete = True
            self.keep = self.parser.should_keep_alive()

    # --- asyncio callbacks ---

    def data_received(self, data: bytes) -> None:
        if self.done is None:  # bytes nobody asked for: the connection cannot be trusted
            self._discard()
            return
        if not self.headed:
            self.head_bytes += data
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError:
            if not self.complete:  # not our _Halt: a bug. The request is counted, asyncio reports the bug.
                self._end(OTHER)
                raise
            # _Halt: a HEAD response (the connection stays usable with a fresh parser), or a stray one after
            self.parser = httptools.HttpResponseParser(self)
            self.sniffing = self.keeping = False
            if self.headed and not self.head:
                self.keep = False
        except httptools.HttpParserUpgrade:  # 101 Switching Protocols, never asked for
            self._end(PROTOCOL)
            return
        except httptools.HttpParserError:
            if not self.complete:
                self._end(PROTOCOL)
                return
            self.keep = False  # a complete response, then bytes that are not one: drop the connection
        if self.complete:
            self._end(self.check.known.get(self.status) or self.check.outcome(self.status, self.body), self.keep)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.client.forget(self)
        if self.done is None:
            return
        if exc is None and self.headed and _ends_at_close(self.head_bytes):  # the close ends the body
            self._end(self.check.outcome(self.status, self.body))
            return
        if not self.head_bytes and not self.retried and self.client.retry(self):
            self.done = None  # the request goes on on a fresh connection
            return
        if exc is None:
            self._end(CLOSED)
        elif isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
            self._end(RESET)
        else:
            self._end(OTHER)

    def time_out(self) -> None:
        self._end(TIMEOUT)
        if self.transport is not None:
            self.transport.abort()

    def _end(self, outcome: str, keep: bool = False) -> None:
        """The request is over: hand the connection back (or close it), then report."""
        done, self.done = self.done, None
        # _reset() inline (the hot path)
        self.status, self.headed, self.head_bytes, self.complete, self.keep = 0, False, b"", False, False
        if self.body:
            self.body = b""
        if keep:
            if self.sniffing and not self.keeping:  # the first response was read with header callbacks: drop
                self.sniffing = False  # them (a parser that keeps bodies stays: the next check may read one)
                self.parser = httptools.HttpResponseParser(self)
            if self.client.waiting:
                self.client.hand_over(self)
            else:
                self.idle_since = _now()  # client.release(self), inline
                self.client.idle.append(self)
        else:
            self._discard()
        if done is not None:
            done(outcome, self.route, self.scheduled)

    def _discard(self) -> None:
        self.client.forget(self)
        if self.transport is not None:
            self.transport.close()


class FastClient:
    def __init__(
        self, base_url: str, *, timeout: float, idle_seconds: float = IDLE_SECONDS, max_connections: int | None = None
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"unsupported target {base_url!r}: give an http:// or https:// base URL")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self.prefix = parts.path.rstrip("/")
        self.host_header = parts.netloc.rsplit("@", 1)[-1]
        self.timeout = timeout
        self.idle_seconds = idle_seconds
        self.idle: list[_Connection] = []
        self.connections: set[_Connection] = set()
        self.max_connections = max_connections
        #: Requests waiting for a connection (bounded pool only), oldest first: (wire, done, route, scheduled,
        #: deadline). Their deadlines are in order, so the sweeper times them out from the left.
        self.waiting: deque[tuple[Prepared, Done, str, float, float]] = deque()
        self.retries = 0  # requests sent again on a fresh connection (see module doc)
        self._opening: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    async def __aenter__(self) -> FastClient:
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        self.waiting.clear()
        for task in list(self._opening):
            task.cancel()
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.close()
        self.connections.clear()
        self.idle.clear()

    async def warm(self, connections: int) -> None:
        """Open keep-alive connections before the schedule starts, so the first second does not pay for
        connecting (a target that is down is fine: the schedule will count its errors). A bounded pool is opened
        whole, as a load balancer keeps its pool: an overloaded server accepts new connections slowly (one per
        loop turn, in libuv), and a pool growing under load would leave its requests in the accept queue."""
        if self.max_connections is not None:
            connections = self.max_connections

        async def one() -> None:
            conn = await self._connect()
            self.release(conn)

        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*(one() for _ in range(connections)), return_exceptions=True), 2.0)

    def prepare(
        self, path: str, body: bytes, method: str = "POST", headers: Sequence[Header] = (), check: Check = _ANY
    ) -> Prepared:
        """The request's bytes, built once: a JSON Content-Type unless `headers` name one, a Content-Length
        whenever there is a body (or the method usually has one)."""
        lines = [f"{method} {self.prefix}{path} HTTP/1.1", f"Host: {self.host_header}"]
        named = {name.lower() for name, _ in headers}
        if "content-type" not in named and (body or method not in BODYLESS):
            lines.append("Content-Type: application/json")
        if body or method not in BODYLESS:
            lines.append(f"Content-Length: {len(body)}")
        lines += [f"{name}: {value}" for name, value in headers]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body, check

    def start(self, prepared: Prepared, done: Done, route: str, scheduled: float) -> None:
        now = time.monotonic()
        idle = self.idle
        while idle:
            pick = int(random() * len(idle))  # swapped with the last, taken in O(1)
            idle[pick], idle[-1] = idle[-1], idle[pick]
            conn = idle.pop()
            if now - conn.idle_since < conn.idle_limit:
                conn.send(prepared, done, route, scheduled, now + self.timeout, False)
                return
            conn._discard()
        if self.max_connections is not None and self._open_count() >= self.max_connections:
            self.waiting.append((prepared, done, route, scheduled, now + self.timeout))
            return
        self._spawn(prepared, done, route, scheduled, now + self.timeout, False)

    def _open_count(self) -> int:
        return len(self.connections) + len(self._opening)

    def hand_over(self, conn: _Connection) -> None:
        """A connection just freed: straight to the oldest waiting request still in time (else to the pool)."""
        now = _now()
        while self.waiting:
            wire, done, route, scheduled, deadline = self.waiting.popleft()
            if deadline > now:
                conn.send(wire, done, route, scheduled, deadline, False)
                return
            done(TIMEOUT, route, scheduled)
        self.release(conn)

    def _pump(self) -> None:
        """Room in a bounded pool (a connection closed, a connect ended): open one for the oldest waiting request."""
        while self.waiting and (self.max_connections is None or self._open_count() < self.max_connections):
            wire, done, route, scheduled, deadline = self.waiting.popleft()
            if deadline <= _now():
                done(TIMEOUT, route, scheduled)
                continue
            self._spawn(wire, done, route, scheduled, deadline, False)

    def retry(self, conn: _Connection) -> bool:
        """Send `conn`'s request again on a fresh connection, if there is time left; False if not."""
        if time.monotonic() >= conn.deadline:
            return False
        self.retries += 1
        self._spawn(conn.wire, conn.done, conn.route, conn.scheduled, conn.deadline, True)  # type: ignore[arg-type]
        return True

    def _spawn(self, wire: Prepared, done: Done, route: str, scheduled: float, deadline: float, retried: bool) -> None:
        task = asyncio.get_running_loop().create_task(self._open(wire, done, route, scheduled, deadline, retried))
        self._opening.add(task)
        task.add_done_callback(self._opened)

    def _opened(self, task: asyncio.Task[None]) -> None:
        self._opening.discard(task)
        if self.waiting:
            self._pump()

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(lambda: _Connection(self), self.host, self.port, ssl=self.ssl)
        if conn.lost:  # closed while this coroutine waited to resume: a write now would raise (uvloop)
            raise _ClosedEarly
        self.connections.add(conn)
        return conn

    async def _open(
        self, wire: Prepared, done: Done, route: str, scheduled: float, deadline: float, retried: bool
    ) -> None:
        try:
            conn = await asyncio.wait_for(self._connect(), max(deadline - time.monotonic(), 0.0))
        except TimeoutError:
            done(TIMEOUT, route, scheduled)
        except _ClosedEarly:  # nothing of a response arrived: the same one retry as a connection lost later
            if retried or time.monotonic() >= deadline:
                done(CLOSED, route, scheduled)
            else:
                self.retries += 1
                self._spawn(wire, done, route, scheduled, deadline, True)
        except OSError:  # refused, unreachable, not resolved, TLS handshake failed
            done(CONNECT, route, scheduled)
        except Exception:  # anything else still ends the request, counted
            done(OTHER, route, scheduled)
        else:
            conn.send(wire, done, route, scheduled, deadline, retried)

    def release(self, conn: _Connection) -> None:
        conn.idle_since = time.monotonic()
        self.idle.append(conn)

    def forget(self, conn: _Connection) -> None:
        if conn not in self.connections:
            return
        self.connections.discard(conn)
        if conn in self.idle:
            self.idle.remove(conn)
        if self.waiting:
            self._pump()

    async def _sweep(self) -> None:
        """Every tenth of a second: time requests out (without a timer per request) and retire idle
        connections past their limit (so they are not left for the server to close)."""
        while True:
            await asyncio.sleep(0.1)
            now = time.monotonic()
            for conn in [c for c in self.connections if c.done is not None and c.deadline < now]:
                conn.time_out()
            waiting = self.waiting
            while waiting and waiting[0][4] < now:
                _, done, route, scheduled, _ = waiting.popleft()
                done(TIMEOUT, route, scheduled)
            for conn in [c for c in self.idle if now - c.idle_since >= c.idle_limit]:
                conn._discard()
