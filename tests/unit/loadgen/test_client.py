"""The clients beyond framing (test_protocol.py has the wire cases): the request bytes, the pool, idle
retirement, timeouts, connection errors, and the choice between the clients."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import uvloop

from loadgen.client import AiohttpClient, FastClient, make_client
from loadgen.http import fast
from loadgen.http.errors import CLOSED, CONNECT, OTHER, TIMEOUT
from loadgen.http.fast import IDLE_SECONDS, _Connection, _keep_alive_timeout
from tests import processes
from tests.unit.loadgen.raw_http import OK, Handler, RawServer, Reader, Writer, raw_server, read_request, replies
from tests.unit.loadgen.wire import BODY, ROUTE, exchange, post


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


def test_the_request_is_exactly_these_bytes() -> None:
    async def go() -> RawServer:
        async with raw_server(replies(OK)) as server, FastClient(server.url + "/prefix/", timeout=5) as client:
            assert await post(client) == "200"
        return server

    server = asyncio.run(go())
    assert server.requests == [
        b"POST /prefix/v1/predict HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (server.port, len(BODY), BODY)
    ]


def test_bytes_after_a_complete_response_count_it_and_drop_the_connection() -> None:
    ex = exchange(replies(OK + b"HTTP/1.1 garbage\r\n\r\n"), "fast", 2)
    assert ex.outcomes == ["200", "200"] and ex.server.connections == 2


def test_a_second_response_nobody_asked_for_drops_the_connection() -> None:
    ex = exchange(replies(OK + OK), "fast", 2)
    assert ex.outcomes == ["200", "200"] and ex.server.connections == 2


def test_bytes_nobody_asked_for_drop_an_idle_connection() -> None:
    async def go() -> FastClient:
        stray = replies(OK, b"HTTP/1.1 200 OK\r\n", pause=0.01)
        async with raw_server(stray) as server, FastClient(server.url, timeout=5) as client:
            assert await post(client) == "200"
            await until(lambda: not client.connections)
        return client

    assert not asyncio.run(go()).idle


def test_an_idle_connection_the_server_closed_is_not_used() -> None:
    async def go() -> tuple[list[str], RawServer, FastClient]:
        async with raw_server(replies(OK, close=True)) as server, FastClient(server.url, timeout=5) as client:
            first = await post(client)
            await until(lambda: not client.connections)  # the close reached the client
            return [first, await post(client)], server, client

    outcomes, server, client = asyncio.run(go())
    assert outcomes == ["200", "200"] and server.connections == 2 and client.retries == 0


# --- idle connections are retired before the server's keep-alive closes them ------------------------------


def _closes_idle_after(seconds: float, header: bytes = b"") -> Handler:
    """A server closing a connection idle for `seconds` (as gunicorn, uvicorn, nginx do)."""
    reply = OK.replace(b"\r\n\r\n", b"\r\n" + header + b"\r\n\r\n", 1) if header else OK

    async def handler(reader: Reader, writer: Writer, server: RawServer) -> None:
        while True:
            try:
                if not await asyncio.wait_for(read_request(reader, server), seconds):
                    return
            except TimeoutError:
                return
            writer.write(reply)

    return handler


def test_idle_connections_are_retired_after_the_setting() -> None:
    assert IDLE_SECONDS == 1.0  # the default, below gunicorn's 2 s
    ex = exchange(_closes_idle_after(0.4), "fast", 3, pause=0.25, idle_seconds=0.2)
    assert ex.outcomes == ["200"] * 3 and ex.server.connections == 3 and ex.client.retries == 0


def test_a_keep_alive_timeout_from_the_server_shortens_the_reuse() -> None:
    """`Keep-Alive: timeout=0.4`: reused for at most half of it, so never as the server closes."""
    ex = exchange(_closes_idle_after(0.4, b"Keep-Alive: timeout=0.4, max=100"), "fast", 3, pause=0.25)
    assert ex.outcomes == ["200"] * 3 and ex.server.connections == 3 and ex.client.retries == 0
    quick = exchange(_closes_idle_after(0.4, b"Keep-Alive: timeout=0.4, max=100"), "fast", 3, pause=0.05)
    assert quick.server.connections == 1  # within the limit: reused


def test_the_sweeper_closes_connections_idle_past_their_limit() -> None:
    async def go() -> FastClient:
        async with raw_server(replies(OK)) as server, FastClient(server.url, timeout=5, idle_seconds=0.05) as client:
            assert await post(client) == "200"
            await until(lambda: not client.connections)
        return client

    assert not asyncio.run(go()).idle


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(b"timeout=5, max=100", 5.0), (b"max=9,Timeout = 2.5", 2.5), (b"timeout=x", None), (b"max=3", None)],
)
def test_keep_alive_header_values(value: bytes, seconds: float | None) -> None:
    assert _keep_alive_timeout(value) == seconds


# --- timeouts and connection errors ---------------------------------------------------------------------


async def _silent(reader: Reader, writer: Writer, server: RawServer) -> None:
    await read_request(reader, server)
    await reader.read()  # until the client gives up and closes


def test_no_answer_times_out_and_the_connection_is_closed() -> None:
    async def go() -> tuple[str, FastClient]:
        async with raw_server(_silent) as server, FastClient(server.url, timeout=0.05) as client:
            return await post(client), client

    outcome, client = asyncio.run(go())
    assert outcome == TIMEOUT and not client.connections and not client.idle


def test_a_refused_connection_is_connect() -> None:
    async def go() -> list[str]:
        port = processes.free_port()  # nothing listens there
        async with FastClient(f"http://127.0.0.1:{port}", timeout=5) as fast:
            await fast.warm(2)  # a target that is down: warming is quiet about it
            outcomes = [await post(fast)]
        async with AiohttpClient(f"http://127.0.0.1:{port}", timeout=5) as slow:
            outcomes.append(await post(slow))
        return outcomes

    assert asyncio.run(go()) == [CONNECT, CONNECT]


def test_a_connect_that_never_completes_times_out() -> None:
    async def go() -> str:
        loop = asyncio.get_running_loop()

        async def never(*_: object, **__: object) -> None:
            await asyncio.Event().wait()

        loop.create_connection = never  # type: ignore[method-assign, assignment]
        async with FastClient("http://127.0.0.1:9", timeout=0.01) as client:
            return await post(client)

    assert asyncio.run(go()) == TIMEOUT


def test_no_retry_once_the_deadline_has_passed() -> None:
    client = FastClient("http://127.0.0.1:1", timeout=1)
    conn = _Connection(client)
    conn.deadline = time.monotonic() - 0.001
    assert not client.retry(conn) and client.retries == 0


def test_warm_connections_are_the_ones_used() -> None:
    async def go() -> tuple[RawServer, int]:
        async with raw_server(replies(OK)) as server, FastClient(server.url, timeout=5) as client:
            await client.warm(3)
            opened = len(client.idle)
            assert [await post(client) for _ in range(4)] == ["200"] * 4
            return server, opened

    server, opened = asyncio.run(go())
    assert opened == 3 and server.connections == 3


def test_every_pooled_connection_stays_in_use(monkeypatch: pytest.MonkeyPatch) -> None:
    """A request takes a pooled connection at random: at a steady rate none idles into retirement, so the pool
    keeps the reserve the busiest moment opened (a burst of due requests finds connections instead of opening
    them), and their request counts spread apart (a server closing each after N requests closes them one by
    one, not all in one round). 300 requests over 3 connections, seeded: each carries about 100, not exactly."""
    monkeypatch.setattr(fast, "random", random.Random(13).random)
    per_connection: Counter[int] = Counter()

    async def counting(reader: Reader, writer: Writer, server: RawServer) -> None:
        me = server.connections
        while await read_request(reader, server):
            per_connection[me] += 1
            writer.write(OK)
            await writer.drain()

    async def go() -> None:
        async with raw_server(counting) as server, FastClient(server.url, timeout=5) as client:
            await client.warm(3)
            assert [await post(client) for _ in range(300)] == ["200"] * 300
            assert server.connections == 3

    asyncio.run(go())
    counts = sorted(per_connection.values())
    assert len(counts) == 3 and counts[0] >= 50 and counts[-1] - counts[0] >= 5, counts


def test_closed_is_reported_after_the_one_retry_also_fails() -> None:
    async def hang_up(reader: Reader, writer: Writer, server: RawServer) -> None:
        await read_request(reader, server)

    ex = exchange(hang_up, "fast")
    assert ex.outcomes == [CLOSED] and ex.client.retries == 1 and len(ex.server.requests) == 2


# --- the choice between them ----------------------------------------------------------------------------


def test_make_client_picks_the_fast_one_for_plain_http_only() -> None:
    assert isinstance(make_client("http://127.0.0.1:1", timeout=1), FastClient)
    assert isinstance(make_client("https://127.0.0.1:1", timeout=1), AiohttpClient)
    assert isinstance(make_client("http://127.0.0.1:1", timeout=1, kind="aiohttp"), AiohttpClient)
    fast_tls = make_client("https://example.test/api", timeout=1, kind="fast")
    assert isinstance(fast_tls, FastClient) and fast_tls.ssl is not None and fast_tls.port == 443
    tuned = make_client("http://127.0.0.1:1", timeout=1, idle_seconds=0.3)
    assert isinstance(tuned, FastClient) and tuned.idle_seconds == 0.3
    with pytest.raises(ValueError, match="unsupported target"):
        make_client("ftp://127.0.0.1", timeout=1, kind="fast")


def test_clients_ready_the_same_request() -> None:
    fast, check = FastClient("http://user@127.0.0.1:8000", timeout=1).prepare(ROUTE, BODY)
    assert fast == (
        b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nContent-Type: application/json\r\n"
        b"Content-Length: 10\r\n\r\n" + BODY
    )
    assert check.outcome(302) == "302"  # without a check of its own, any status is the outcome
    assert AiohttpClient("http://127.0.0.1:8000/", timeout=1).prepare(ROUTE, BODY)[:4] == (
        "POST",
        "http://127.0.0.1:8000/v1/predict",
        BODY,
        {"Content-Type": "application/json"},
    )


def test_headers_and_bodyless_methods() -> None:
    """A workload's headers go on the wire as given (a Content-Type of its own replaces the JSON one); a GET
    without a body says neither a type nor a length."""
    headers = (("Authorization", "Bearer x"), ("content-type", "text/csv"))
    fast, _ = FastClient("http://127.0.0.1:8000/api", timeout=1).prepare("/score", b"a,b", "PUT", headers)
    assert fast == (
        b"PUT /api/score HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nContent-Length: 3\r\nAuthorization: Bearer x\r\n"
        b"content-type: text/csv\r\n\r\na,b"
    )
    get, _ = FastClient("http://127.0.0.1:8000", timeout=1).prepare("/health", b"", "GET")
    assert get == b"GET /health HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n"
    aio = AiohttpClient("http://127.0.0.1:8000", timeout=1)
    assert aio.prepare("/score", b"a,b", "PUT", headers)[3] == dict(headers)
    assert aio.prepare("/health", b"", "GET")[3] == {}


def test_a_bug_in_a_parser_callback_is_counted_and_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: _Connection) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(_Connection, "on_message_complete", broken)

    async def go() -> tuple[str, list[dict[str, object]]]:
        errors: list[dict[str, object]] = []
        asyncio.get_running_loop().set_exception_handler(lambda _loop, context: errors.append(context))
        async with raw_server(replies(OK)) as server, FastClient(server.url, timeout=5) as client:
            return await post(client), errors

    outcome, errors = asyncio.run(go())
    assert outcome == OTHER and errors  # counted, and the bug is not swallowed


@pytest.mark.parametrize(("closed_early", "outcome", "retries"), [(1, "200", 1), (2, CLOSED, 1)])
def test_a_connection_closed_before_the_request_could_be_written(closed_early: int, outcome: str, retries: int) -> None:
    """The close is seen before the connecting coroutine resumes (uvloop would raise on the write): the first
    `closed_early` connections are closed as they open."""

    async def go() -> tuple[str, FastClient]:
        loop = asyncio.get_running_loop()
        real = loop.create_connection
        opened = 0

        async def closing(*args: Any, **kwargs: Any) -> Any:
            nonlocal opened
            transport, protocol = await real(*args, **kwargs)
            opened += 1
            if opened <= closed_early:
                transport.close()
                await until(lambda: protocol.lost)
            return transport, protocol

        loop.create_connection = closing  # type: ignore[method-assign]
        async with raw_server(replies(OK)) as server, FastClient(server.url, timeout=5) as client:
            return await post(client), client

    got, client = uvloop.run(go())
    assert got == outcome and client.retries == retries


@pytest.mark.parametrize("delivered", [False, True])
def test_a_pooled_connection_closed_under_the_request_is_retried(delivered: bool) -> None:
    """An idle connection whose transport closed, its connection_lost pending or (`delivered`) past, is taken
    from the pool: uvloop raises on the write; the request goes on on a fresh connection."""

    async def go() -> tuple[str, FastClient]:
        async with raw_server(replies(OK)) as server, FastClient(server.url, timeout=5) as client:
            assert await post(client) == "200"
            conn = client.idle[0]
            assert conn.transport is not None
            conn.transport.close()  # as uvloop does on an error, before it calls connection_lost
            if delivered:
                await until(lambda: conn.lost)
                client.idle.append(conn)
            return await post(client), client

    outcome, client = uvloop.run(go())
    assert outcome == "200" and client.retries == 1
