"""A tiny HTTP/1.1 server on 127.0.0.1 that writes exactly the bytes a test gives it.

The load generator's client is tested against the wire, not against a library's idea of HTTP: each
handler reads requests off the socket and writes raw bytes back, split, late, or not at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field

Reader = asyncio.StreamReader
Writer = asyncio.StreamWriter

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


@dataclass
class RawServer:
    url: str
    port: int
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    answered: int = 0


async def read_request(reader: asyncio.StreamReader, server: RawServer, *, body: bool = True) -> bool:
    """Read one request (head, and its Content-Length body if `body`) into server.requests; False at end of
    stream."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return False
    if not body:
        server.requests.append(head)
        return True
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    server.requests.append(head + await reader.readexactly(length))
    return True


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, RawServer], Awaitable[None]]


@contextlib.asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[RawServer]:
    """Serve `handler(reader, writer, server)` per connection on a free loopback port, in this loop."""
    state = RawServer(url="", port=0)

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        try:
            await handler(reader, writer, state)
        except (ConnectionError, asyncio.CancelledError):
            # Cancelled: the loop is ending. Python 3.11's stream callback would log a cancelled handler as an
            # error, and the tests count every error the loop reports.
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    state.url = f"http://127.0.0.1:{state.port}"
    try:
        yield state
    finally:
        server.close()
        # Handlers still blocked on a silent client would hold wait_closed(): they end with the loop.


def replies(*parts: bytes, close: bool = False, pause: float = 0.0) -> Handler:
    """A handler answering every request with `parts` written one by one (`pause` s apart), then closing
    the connection if `close`."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: RawServer) -> None:
        while await read_request(reader, server):
            for part in parts:
                writer.write(part)
                await writer.drain()
                if pause:
                    await asyncio.sleep(pause)
            server.answered += 1
            if close:
                return

    return handler


@contextlib.contextmanager
def server_thread(handler: Handler | None = None) -> Iterator[RawServer]:
    """A raw server (by default always 200, keep-alive) in its own thread and loop, for code that runs its own
    loop (main())."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: list[RawServer] = []
    stop = asyncio.Event()

    async def serve() -> None:
        async with raw_server(handler or replies(OK)) as server:
            holder.append(server)
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(10), "the test server did not start"
    try:
        yield holder[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()
