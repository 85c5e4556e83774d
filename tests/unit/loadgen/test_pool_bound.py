"""A bounded connection pool (`--max-connections`), through both clients: requests beyond the bound wait for a
connection in order, never open one more, and still end in exactly one outcome (timed out while waiting, the
target refusing, a connection the server closes)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

import pytest
import uvloop

from loadgen.client import make_client
from loadgen.http.errors import CONNECT, TIMEOUT
from tests.unit.loadgen.raw_http import OK, Handler, RawServer, Reader, Writer, raw_server, read_request, replies
from tests.unit.loadgen.wire import BODY, CLIENTS, ROUTE

pytestmark = pytest.mark.parametrize("kind", CLIENTS)


async def _burst(url: str, kind: str, n: int, bound: int, timeout: float) -> list[str]:
    """`n` requests started at once through a client whose pool holds at most `bound` connections."""
    errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, context: errors.append(context))
    client = make_client(url, timeout=timeout, kind=kind, max_connections=bound)
    loop = asyncio.get_running_loop()
    futures: list[asyncio.Future[str]] = [loop.create_future() for _ in range(n)]

    def resolver(future: asyncio.Future[str]) -> Callable[[str, str, float], None]:
        return lambda outcome, _route, _at: future.set_result(outcome)

    async with client:
        prepared = client.prepare(ROUTE, BODY)
        for future in futures:
            client.start(prepared, resolver(future), ROUTE, 0.0)
        outcomes = await asyncio.wait_for(asyncio.gather(*futures), timeout + 5)
    assert not errors, errors
    return list(outcomes)


def burst(handler: Handler, kind: str, n: int, bound: int, timeout: float = 5.0) -> tuple[list[str], RawServer]:
    async def go() -> tuple[list[str], RawServer]:
        async with raw_server(handler) as server:
            return await _burst(server.url, kind, n, bound, timeout), server

    return uvloop.run(go())


def counting(pause: float, close: bool = False) -> tuple[Handler, list[int]]:
    """Answers 200 after `pause`; records the most connections open at once."""
    peak = [0, 0]  # open now, most at once

    async def handler(reader: Reader, writer: Writer, server: RawServer) -> None:
        peak[0] += 1
        peak[1] = max(peak)
        try:
            await replies(OK, pause=pause, close=close)(reader, writer, server)
        finally:
            peak[0] -= 1

    return handler, peak


def test_a_burst_waits_for_the_bounded_pool_and_every_request_is_answered(kind: str) -> None:
    handler, peak = counting(0.01)
    outcomes, server = burst(handler, kind, 20, 3)
    assert outcomes == ["200"] * 20
    assert server.connections <= 3 and peak[1] <= 3


def test_a_connection_the_server_closes_makes_room_for_the_next_waiting_request(kind: str) -> None:
    close = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"

    async def handler(reader: Reader, writer: Writer, server: RawServer) -> None:
        if await read_request(reader, server):
            writer.write(close)
            await writer.drain()

    outcomes, server = burst(handler, kind, 6, 2)
    assert outcomes == ["200"] * 6 and server.connections == 6


def test_requests_waiting_for_a_connection_time_out_like_the_others(kind: str) -> None:
    async def silent(reader: Reader, writer: Writer, server: RawServer) -> None:
        while await read_request(reader, server):
            pass  # never answers

    outcomes, server = burst(silent, kind, 4, 1, timeout=0.3)
    assert outcomes == [TIMEOUT] * 4 and server.connections <= 1


def test_a_refused_target_ends_every_waiting_request_as_connect(kind: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    outcomes = uvloop.run(_burst(f"http://127.0.0.1:{port}", kind, 5, 2, timeout=2.0))
    assert outcomes == [CONNECT] * 5


def test_a_bounded_pool_is_opened_whole_before_the_first_request(kind: str) -> None:
    if kind != "fast":
        pytest.skip("aiohttp opens connections on demand")

    async def go() -> int:
        async with (
            raw_server(replies(OK)) as server,
            make_client(server.url, timeout=2.0, kind=kind, max_connections=7) as client,
        ):
            await client.warm(2)  # the engine's estimate; the bound wins
            await asyncio.sleep(0.05)  # the server's accept callbacks
            return server.connections

    assert uvloop.run(go()) == 7
