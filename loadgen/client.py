"""HTTP clients: every request ends in exactly one outcome string, and nothing the target does raises.

An outcome is the status code ("200", "422", "503", ...) or a transport error kind ("timeout",
"connect", "other"). Both clients take pre-built requests (`prepare`, done once per payload) and report
through a callback, so the engine needs no task per request:

- `FastClient` (plain http://, the default): a minimal HTTP/1.1 keep-alive client on asyncio protocols.
  A load generator's own cost per request bounds the highest rate it can hold on schedule; with the
  request bytes written once up front and responses parsed in place, this one costs a fraction of a
  general-purpose client (see bench/loadgen.py). It speaks exactly what the target needs: one request
  at a time per connection, Content-Length or chunked bodies, `Connection: close`.
- `AiohttpClient` (https://, proxies, anything unusual): aiohttp's full client.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp

Done = Callable[[str, str, float], None]  # (outcome, route, scheduled start)


class Client(Protocol):
    async def __aenter__(self) -> Client: ...
    async def __aexit__(self, *exc: object) -> None: ...
    def prepare(self, path: str, body: bytes) -> Any: ...
    async def warm(self, connections: int) -> None: ...
    def start(self, prepared: Any, done: Done, route: str, scheduled: float) -> None: ...


def make_client(base_url: str, *, timeout: float, kind: str = "auto") -> Client:
    """`auto`: the fast client for http://, aiohttp for anything else."""
    if kind == "fast" or (kind == "auto" and urlsplit(base_url).scheme == "http"):
        return FastClient(base_url, timeout=timeout)
    return AiohttpClient(base_url, timeout=timeout)


class AiohttpClient:
    def __init__(self, base_url: str, *, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[str]] = set()

    async def __aenter__(self) -> AiohttpClient:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
            timeout=self._timeout,
            headers={"Content-Type": "application/json"},
            skip_auto_headers=("User-Agent",),
            auto_decompress=False,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def warm(self, connections: int) -> None:
        """aiohttp opens connections on demand."""

    def prepare(self, path: str, body: bytes) -> tuple[str, bytes]:
        return self.base_url + path, body

    def start(self, prepared: tuple[str, bytes], done: Done, route: str, scheduled: float) -> None:
        def finished(t: asyncio.Task[str]) -> None:
            self._tasks.discard(t)
            done(t.result(), route, scheduled)

        task = asyncio.get_running_loop().create_task(self._post(*prepared))
        self._tasks.add(task)  # keep a reference until it is done
        task.add_done_callback(finished)

    async def _post(self, url: str, body: bytes) -> str:
        assert self._session is not None, "use `async with`"
        try:
            async with self._session.post(url, data=body) as response:
                await response.read()
                return str(response.status)
        except TimeoutError:
            return "timeout"
        except (aiohttp.ClientConnectorError, ConnectionRefusedError):
            return "connect"
        except (aiohttp.ClientError, OSError, ValueError):
            return "other"


class _Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    __slots__ = ("buf", "chunk_pos", "client", "deadline", "done", "idle_since", "keep", "need",
                 "route", "scheduled", "status", "transport")  # fmt: skip

    def __init__(self, client: FastClient) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.done: Done | None = None
        self.buf = bytearray()
        self.need = -1
        self.status = ""
        self.keep = True
        self.chunk_pos = -1  # >= 0 while reading a chunked body
        self.deadline = 0.0
        self.idle_since = 0.0
        self.route = ""
        self.scheduled = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, data: bytes, done: Done, route: str, scheduled: float, deadline: float) -> None:
        self.done, self.route, self.scheduled, self.deadline = done, route, scheduled, deadline
        self.need = -1
        self.transport.write(data)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        if self.done is None:  # nothing asked: a broken peer; drop the connection
            self.transport.close()  # type: ignore[union-attr]
            return
        buf = self.buf
        buf += data
        if self.need < 0:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end]).lower()
            self.status = head[9:12].decode("ascii", "replace")
            self.keep = b"\r\nconnection: close" not in head and head.startswith(b"http/1.1")
            start = end + 4
            i = head.find(b"\r\ncontent-length:")
            if i >= 0:
                j = head.find(b"\r\n", i + 2)
                self.need = start + int(head[i + 17 : j if j >= 0 else len(head)])
            elif b"\r\ntransfer-encoding: chunked" in head:
                self.need = 1 << 62
                self.chunk_pos = start
            elif self.status[0] == "1":  # an interim response (103 Early Hints, ...): the final one follows
                del buf[:start]
                self.data_received(b"")
                return
            elif self.status in ("204", "304"):
                self.need = start
            else:  # body until the peer closes
                self.need = 1 << 62
                self.keep = False
                return
        if self.chunk_pos >= 0 and not self._chunks():
            return
        if len(buf) >= self.need:
            self._finish(self.status)

    def _chunks(self) -> bool:
        """Advance over complete chunks; True once the terminating chunk and blank line are in."""
        buf, pos = self.buf, self.chunk_pos
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                return False
            size = int(bytes(buf[pos:eol]).split(b";")[0], 16)
            if size == 0:
                end = buf.find(b"\r\n\r\n", eol)
                if end < 0:
                    return False
                self.need = end + 4
                self.chunk_pos = -1
                return True
            if len(buf) < eol + 2 + size + 2:
                self.chunk_pos = pos
                return False
            pos = eol + 2 + size + 2

    def _finish(self, outcome: str) -> None:
        done, self.done = self.done, None
        del self.buf[:]
        self.chunk_pos = -1
        if self.keep and outcome[0].isdigit():
            self.client.release(self)
        else:
            self.client.forget(self)
            if self.transport is not None:
                self.transport.close()
        if done is not None:
            done(outcome, self.route, self.scheduled)

    def connection_lost(self, exc: Exception | None) -> None:
        self.keep = False
        self.client.forget(self)
        if self.done is not None:
            until_close = self.need == 1 << 62 and self.chunk_pos < 0 and self.status
            self._finish(self.status if until_close else "other")

    def time_out(self) -> None:
        self.keep = False
        self._finish("timeout")
        if self.transport is not None:
            self.transport.abort()


class FastClient:
    #: Do not reuse a connection idle longer than this: servers close idle keep-alive connections
    #: (uvicorn after 5 s), and a request written as the close arrives would fail for nothing.
    IDLE_REUSE_SECONDS = 2.0

    def __init__(self, base_url: str, *, timeout: float) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"unsupported target {base_url!r}: give an http:// or https:// base URL")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self.prefix = parts.path.rstrip("/")
        self.host_header = parts.netloc.rsplit("@", 1)[-1]
        self.timeout = timeout
        self.idle: list[_Connection] = []
        self.connections: set[_Connection] = set()
        self._opening: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    async def __aenter__(self) -> FastClient:
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.close()
        self.connections.clear()
        self.idle.clear()

    async def warm(self, connections: int) -> None:
        """Open keep-alive connections before the schedule starts, so the first second does not pay for
        connecting (a target that is down is fine: the schedule will count its errors)."""
        loop = asyncio.get_running_loop()

        async def one() -> None:
            _, conn = await loop.create_connection(lambda: _Connection(self), self.host, self.port, ssl=self.ssl)
            self.connections.add(conn)
            self.release(conn)

        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*(one() for _ in range(connections)), return_exceptions=True), 2.0)

    def prepare(self, path: str, body: bytes) -> bytes:
        head = (
            f"POST {self.prefix}{path} HTTP/1.1\r\nHost: {self.host_header}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode("latin-1") + body

    def start(self, prepared: bytes, done: Done, route: str, scheduled: float) -> None:
        now = time.monotonic()
        idle = self.idle
        while idle:
            conn = idle.pop()
            if now - conn.idle_since < self.IDLE_REUSE_SECONDS:
                conn.send(prepared, done, route, scheduled, now + self.timeout)
                return
            self.forget(conn)
            conn.transport.close()  # type: ignore[union-attr]
        task = asyncio.get_running_loop().create_task(self._open(prepared, done, route, scheduled, now))
        self._opening.add(task)
        task.add_done_callback(self._opening.discard)

    async def _open(self, prepared: bytes, done: Done, route: str, scheduled: float, now: float) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(lambda: _Connection(self), self.host, self.port, ssl=self.ssl),
                self.timeout,
            )
        except TimeoutError:
            done("timeout", route, scheduled)
            return
        except OSError:
            done("connect", route, scheduled)
            return
        self.connections.add(conn)
        conn.send(prepared, done, route, scheduled, now + self.timeout)

    def release(self, conn: _Connection) -> None:
        conn.idle_since = time.monotonic()
        self.idle.append(conn)

    def forget(self, conn: _Connection) -> None:
        self.connections.discard(conn)
        if conn in self.idle:
            self.idle.remove(conn)

    async def _sweep(self) -> None:
        """Time requests out (a tenth of a second late at most) without a timer per request."""
        while True:
            await asyncio.sleep(0.1)
            now = time.monotonic()
            for conn in [c for c in self.connections if c.done is not None and c.deadline < now]:
                conn.time_out()
