"""The HTTP clients against exact bytes on the wire: one case per way a response can be framed or end."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from loadgen.client import AiohttpClient, Client, FastClient, make_client
from tests import processes
from tests.unit.loadgen.raw_http import OK, RawServer, raw_server, read_request, replies

ROUTE = "/v1/predict"
BODY = b'{"age":30}'


async def post(client: Client, timeout: float = 5.0) -> str:
    """One request through `client`; its outcome."""
    outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    client.start(client.prepare(ROUTE, BODY), lambda o, _route, _at: outcome.set_result(o), ROUTE, 0.0)
    return await asyncio.wait_for(outcome, timeout)


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


def exchange(
    handler: Any, n: int = 1, *, timeout: float = 10.0, kind: str = "fast"
) -> tuple[list[str], RawServer, FastClient | AiohttpClient]:
    """`n` requests one after the other against a raw server running `handler`."""

    async def go() -> tuple[list[str], RawServer, FastClient | AiohttpClient]:
        async with raw_server(handler) as server:
            client = (
                FastClient(server.url, timeout=timeout)
                if kind == "fast"
                else AiohttpClient(server.url, timeout=timeout)
            )
            async with client:
                outcomes = [await post(client) for _ in range(n)]
        return outcomes, server, client

    return asyncio.run(go())


# --- framing --------------------------------------------------------------------------------------------


def test_content_length_body_then_the_connection_is_reused() -> None:
    outcomes, server, _ = exchange(replies(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"), 3)
    assert outcomes == ["200", "200", "200"]
    assert server.connections == 1  # keep-alive: one connection for the three


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


def test_a_response_split_anywhere_is_put_together() -> None:
    parts = (b"HTTP/1.1 404 Not", b" Found\r\nContent-Len", b"gth: 6\r\n\r", b"\nnot", b" here")
    outcomes, server, _ = exchange(replies(*parts, pause=0.005), 2)
    assert outcomes == ["404", "404"] and server.connections == 1


def test_chunked_body_with_extensions_and_split_chunks_then_reuse() -> None:
    head = b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n"
    parts = (head, b"5;name=x\r\nhel", b"lo\r\n6\r\n wor", b"ld\r\n0\r\n", b"\r\n")
    outcomes, server, _ = exchange(replies(*parts, pause=0.005), 2)
    assert outcomes == ["503", "503"] and server.connections == 1  # the terminator was read, nothing more


def test_chunked_body_with_a_trailer() -> None:
    reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nX-Checksum: 1\r\n\r\n"
    outcomes, server, _ = exchange(replies(reply), 2)
    assert outcomes == ["200", "200"] and server.connections == 1


def test_no_content_statuses_end_at_the_head() -> None:
    outcomes, server, _ = exchange(replies(b"HTTP/1.1 204 No Content\r\n\r\n"), 2)
    assert outcomes == ["204", "204"] and server.connections == 1


def test_interim_responses_are_skipped_for_the_final_one() -> None:
    hints = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
    outcomes, server, _ = exchange(replies(hints, hints, OK, pause=0.005), 2)
    assert outcomes == ["200", "200"] and server.connections == 1


def test_connection_close_is_honoured() -> None:
    reply = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"
    outcomes, server, client = exchange(replies(reply), 2)
    assert outcomes == ["200", "200"] and server.connections == 2
    assert isinstance(client, FastClient) and not client.idle


def test_http_1_0_is_not_kept_alive() -> None:
    outcomes, server, _ = exchange(replies(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}"), 2)
    assert outcomes == ["200", "200"] and server.connections == 2


def test_a_body_without_length_ends_when_the_server_closes() -> None:
    outcomes, server, _ = exchange(replies(b"HTTP/1.1 500 Oops\r\n\r\n", b"partial", pause=0.01, close=True), 2)
    assert outcomes == ["500", "500"] and server.connections == 2


# --- the server ends the exchange -----------------------------------------------------------------------


def test_server_closing_before_answering_is_other() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: RawServer) -> None:
        await read_request(reader, server)

    assert exchange(hang_up, 2)[0] == ["other", "other"]


def test_server_closing_in_the_middle_of_a_body_is_other() -> None:
    short = replies(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}", pause=0.01, close=True)
    chunked = replies(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n", pause=0.01, close=True)
    interim = replies(b"HTTP/1.1 100 Continue\r\n\r\n", pause=0.01, close=True)
    assert [exchange(h)[0] for h in (short, chunked, interim)] == [["other"]] * 3


def test_a_malformed_head_is_other() -> None:
    outcomes, _, _ = exchange(replies(b"HTTP/1.1 200 OK\r\nContent-Length: lots\r\n\r\n{}"))
    assert outcomes == ["other"]


def test_an_idle_connection_the_server_closed_is_not_used() -> None:
    async def go() -> tuple[list[str], RawServer]:
        async with raw_server(replies(OK, close=True)) as server, FastClient(server.url, timeout=5) as client:
            first = await post(client)
            await until(lambda: not client.connections)  # the close reached the client
            return [first, await post(client)], server

    outcomes, server = asyncio.run(go())
    assert outcomes == ["200", "200"] and server.connections == 2


def test_bytes_nobody_asked_for_drop_the_connection() -> None:
    async def go() -> FastClient:
        stray = replies(OK, b"HTTP/1.1 200 OK\r\n", pause=0.01)
        async with raw_server(stray) as server, FastClient(server.url, timeout=5) as client:
            assert await post(client) == "200"
            await until(lambda: not client.connections)
        return client

    assert not asyncio.run(go()).idle


def test_a_connection_idle_too_long_is_not_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FastClient, "IDLE_REUSE_SECONDS", 0.0)
    outcomes, server, _ = exchange(replies(OK), 2)
    assert outcomes == ["200", "200"] and server.connections == 2


# --- timeouts and connection errors ---------------------------------------------------------------------


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: RawServer) -> None:
    await read_request(reader, server)
    await reader.read()  # until the client gives up and closes


def test_no_answer_times_out_and_the_connection_is_closed() -> None:
    async def go() -> tuple[str, RawServer, FastClient]:
        async with raw_server(_silent) as server, FastClient(server.url, timeout=0.05) as client:
            outcome = await post(client)
            return outcome, server, client

    outcome, _, client = asyncio.run(go())
    assert outcome == "timeout" and not client.connections and not client.idle


def test_a_refused_connection_is_connect() -> None:
    async def go() -> list[str]:
        port = processes.free_port()  # nothing listens there
        async with FastClient(f"http://127.0.0.1:{port}", timeout=5) as fast:
            await fast.warm(2)  # a target that is down: warming is quiet about it
            outcomes = [await post(fast)]
        async with AiohttpClient(f"http://127.0.0.1:{port}", timeout=5) as slow:
            outcomes.append(await post(slow))
        return outcomes

    assert asyncio.run(go()) == ["connect", "connect"]


def test_a_connect_that_never_completes_times_out() -> None:
    async def go() -> str:
        loop = asyncio.get_running_loop()

        async def never(*_: object, **__: object) -> None:
            await asyncio.Event().wait()

        loop.create_connection = never  # type: ignore[method-assign, assignment]
        async with FastClient("http://127.0.0.1:9", timeout=0.01) as client:
            return await post(client)

    assert asyncio.run(go()) == "timeout"


def test_warm_connections_are_the_ones_used() -> None:
    async def go() -> tuple[RawServer, int]:
        async with raw_server(replies(OK)) as server, FastClient(server.url, timeout=5) as client:
            await client.warm(3)
            opened = len(client.idle)
            assert [await post(client) for _ in range(4)] == ["200"] * 4
            return server, opened

    server, opened = asyncio.run(go())
    assert opened == 3 and server.connections == 3


# --- the aiohttp client and the choice between them -----------------------------------------------------


def test_aiohttp_client_outcomes() -> None:
    assert exchange(replies(b"HTTP/1.1 422 Unprocessable\r\nContent-Length: 2\r\n\r\n{}"), 2, kind="aiohttp")[0] == [
        "422",
        "422",
    ]

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: RawServer) -> None:
        await read_request(reader, server)

    assert exchange(hang_up, kind="aiohttp")[0] == ["other"]
    assert exchange(_silent, kind="aiohttp", timeout=0.05)[0] == ["timeout"]


def test_make_client_picks_the_fast_one_for_plain_http_only() -> None:
    assert isinstance(make_client("http://127.0.0.1:1", timeout=1), FastClient)
    assert isinstance(make_client("https://127.0.0.1:1", timeout=1), AiohttpClient)
    assert isinstance(make_client("http://127.0.0.1:1", timeout=1, kind="aiohttp"), AiohttpClient)
    fast_tls = make_client("https://example.test/api", timeout=1, kind="fast")
    assert isinstance(fast_tls, FastClient) and fast_tls.ssl is not None and fast_tls.port == 443
    with pytest.raises(ValueError, match="unsupported target"):
        make_client("ftp://127.0.0.1", timeout=1, kind="fast")


def test_clients_ready_the_same_request() -> None:
    fast = FastClient("http://user@127.0.0.1:8000", timeout=1).prepare(ROUTE, BODY)
    assert fast.startswith(b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n") and fast.endswith(BODY)
    assert AiohttpClient("http://127.0.0.1:8000/", timeout=1).prepare(ROUTE, BODY) == (
        "http://127.0.0.1:8000/v1/predict",
        BODY,
    )
