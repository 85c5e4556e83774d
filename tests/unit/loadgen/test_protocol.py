"""Raw bytes on the wire, one case per test, through both clients (`--client fast` and `--client aiohttp`):
each case's outcome is the same for both, or the difference is asserted and explained where it occurs.

Every outcome is a final status code or one of the documented transport error kinds, and no case leaves a
traceback or an unretrieved exception behind (`wire.exchange` asserts the loop reported nothing).
"""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from loadgen.http.errors import CLOSED, PROTOCOL, RESET, TIMEOUT
from tests.unit.loadgen.raw_http import OK, RawServer, Reader, Writer, read_request, replies
from tests.unit.loadgen.wire import CLIENTS, exchange

pytestmark = pytest.mark.parametrize("kind", CLIENTS)


# --- framing --------------------------------------------------------------------------------------------


def test_content_length_body_then_the_connection_is_reused(kind: str) -> None:
    ex = exchange(replies(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"), kind, 3)
    assert ex.outcomes == ["200"] * 3 and ex.server.connections == 1


def test_a_response_split_anywhere_is_put_together(kind: str) -> None:
    parts = (b"HTTP/1.1 404 Not", b" Found\r\nContent-Len", b"gth: 8\r\n\r", b"\nnot", b" here")
    ex = exchange(replies(*parts, pause=0.005), kind, 2)
    assert ex.outcomes == ["404", "404"] and ex.server.connections == 1


@pytest.mark.parametrize(
    "header", [b"Transfer-Encoding: chunked", b"Transfer-Encoding:chunked", b"transfer-encoding:  CHUNKED "]
)
def test_chunked_in_every_spelling(kind: str, header: bytes) -> None:
    reply = b"HTTP/1.1 200 OK\r\n" + header + b"\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
    ex = exchange(replies(reply), kind, 2)
    assert ex.outcomes == ["200", "200"] and ex.server.connections == 1


def test_chunked_body_with_extensions_and_split_chunks(kind: str) -> None:
    head = b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n"
    parts = (head, b"5;name=x\r\nhel", b"lo\r\n6\r\n wor", b"ld\r\n0\r\n", b"\r\n")
    ex = exchange(replies(*parts, pause=0.005), kind, 2)
    assert ex.outcomes == ["503", "503"] and ex.server.connections == 1  # the terminator read, nothing more


def test_chunked_body_with_a_trailer(kind: str) -> None:
    reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nX-Checksum: 1\r\n\r\n"
    ex = exchange(replies(reply), kind, 2)
    assert ex.outcomes == ["200", "200"] and ex.server.connections == 1


@pytest.mark.parametrize("status", [b"204 No Content", b"304 Not Modified"])
def test_no_content_statuses_end_at_the_head_whatever_it_says(kind: str, status: bytes) -> None:
    ex = exchange(replies(b"HTTP/1.1 " + status + b"\r\nContent-Length: 5\r\n\r\n"), kind, 2)
    assert ex.outcomes == [status[:3].decode()] * 2 and ex.server.connections == 1


def test_a_head_response_ends_at_its_head(kind: str) -> None:
    ex = exchange(replies(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"), kind, 2, method="HEAD", body=b"")
    assert ex.outcomes == ["200", "200"] and ex.server.connections == 1
    assert all(r.startswith(b"HEAD /v1/predict HTTP/1.1\r\n") for r in ex.server.requests)


def test_interim_responses_are_skipped_for_the_final_one(kind: str) -> None:
    hints = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
    ex = exchange(replies(hints, hints, OK, pause=0.005), kind, 2)
    assert ex.outcomes == ["200", "200"] and ex.server.connections == 1


def test_early_hints_then_503_is_a_503(kind: str) -> None:
    reply = b"HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n"
    assert exchange(replies(reply), kind, 3).outcomes == ["503"] * 3


def test_100_continue_then_the_answer(kind: str) -> None:
    reply = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}"
    assert exchange(replies(reply), kind, 2).outcomes == ["201", "201"]


@pytest.mark.parametrize(
    "header",
    [
        b"Connection: close",
        b"Connection:close",
        b"connection: CLOSE",
        b"Connection: keep-alive, close",
        b"Connection: close, TE",
    ],
)
def test_connection_close_in_every_spelling(kind: str, header: bytes) -> None:
    reply = b"HTTP/1.1 200 OK\r\n" + header + b"\r\nContent-Length: 2\r\n\r\n{}"
    ex = exchange(replies(reply), kind, 3)
    assert ex.outcomes == ["200"] * 3 and ex.server.connections == 3


def test_http_1_0_is_not_kept_alive(kind: str) -> None:
    ex = exchange(replies(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}", close=True), kind, 2)
    assert ex.outcomes == ["200", "200"] and ex.server.connections == 2


def test_a_body_without_length_ends_when_the_server_closes(kind: str) -> None:
    ex = exchange(replies(b"HTTP/1.1 500 Oops\r\n\r\n", b"partial", pause=0.01, close=True), kind, 2)
    assert ex.outcomes == ["500", "500"] and ex.server.connections == 2


def test_a_response_before_the_request_is_fully_sent(kind: str) -> None:
    """The server answers after the head, while megabytes of body are still on their way, then closes
    gracefully (reading what is left, as servers do, so the answer is not lost to a reset)."""

    async def early(reader: Reader, writer: Writer, server: RawServer) -> None:
        await read_request(reader, server, body=False)
        writer.write(b"HTTP/1.1 413 Content Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.write_eof()
        while await reader.read(1 << 16):
            pass

    ex = exchange(early, kind, 2, body=b"x" * (16 << 20))
    assert ex.outcomes == ["413", "413"] and ex.server.connections == 2


# --- the connection ends --------------------------------------------------------------------------------


def _abort(writer: Writer) -> None:
    """Close with a reset (RST) instead of an orderly close."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def test_a_connection_closed_before_any_byte_is_retried_once(kind: str) -> None:
    """The server drops its first connection right after accepting it; the request succeeds on the next."""

    async def drop_first(reader: Reader, writer: Writer, server: RawServer) -> None:
        if server.connections == 1:
            return
        await replies(OK)(reader, writer, server)

    ex = exchange(drop_first, kind, 2)
    assert ex.outcomes == ["200", "200"] and ex.client.retries == 1 and ex.server.connections == 2


def test_a_server_dropping_one_connection_in_ten_costs_nothing_but_retries(kind: str) -> None:
    """Every tenth connection is closed as it is accepted (the issue measured 3-7% of requests becoming
    full-length timeouts with a traceback each); every response closes its connection, so each request
    opens one."""
    reply = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"

    async def drop_some(reader: Reader, writer: Writer, server: RawServer) -> None:
        if server.connections % 10 == 0:
            return
        await replies(reply, close=True)(reader, writer, server)

    ex = exchange(drop_some, kind, 45)
    assert ex.outcomes == ["200"] * 45 and ex.client.retries == 4 and ex.server.connections == 49


def test_a_connection_reset_before_any_byte_is_retried_once(kind: str) -> None:
    async def reset_first(reader: Reader, writer: Writer, server: RawServer) -> None:
        if server.connections == 1:
            await read_request(reader, server)
            _abort(writer)
            return
        await replies(OK)(reader, writer, server)

    ex = exchange(reset_first, kind, 2)
    assert ex.outcomes == ["200", "200"] and ex.client.retries == 1 and ex.server.connections == 2


def test_a_server_that_closes_every_connection_unanswered_is_closed_after_one_retry(kind: str) -> None:
    async def hang_up(reader: Reader, writer: Writer, server: RawServer) -> None:
        await read_request(reader, server)

    ex = exchange(hang_up, kind, 2)
    assert ex.outcomes == [CLOSED, CLOSED] and ex.client.retries == 2 and ex.server.connections == 4


def test_closed_in_the_middle_of_a_content_length_body(kind: str) -> None:
    ex = exchange(replies(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}", pause=0.01, close=True), kind)
    assert ex.outcomes == [CLOSED] and ex.client.retries == 0  # bytes of a response came: no retry


def test_closed_in_the_middle_of_a_chunked_body(kind: str) -> None:
    reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n"
    ex = exchange(replies(reply, pause=0.01, close=True), kind)
    assert ex.outcomes == [CLOSED] and ex.client.retries == 0


def test_closed_in_the_middle_of_a_head(kind: str) -> None:
    ex = exchange(replies(b"HTTP/1.1 200 OK\r\nContent-", pause=0.01, close=True), kind)
    assert ex.outcomes == [CLOSED] and ex.client.retries == 0


def test_closed_after_an_interim_response(kind: str) -> None:
    ex = exchange(replies(b"HTTP/1.1 100 Continue\r\n\r\n", pause=0.01, close=True), kind)
    # aiohttp drops an interim response without a trace, so it cannot tell this from a close before any
    # byte and retries; the fast client saw bytes of a response and does not. Same outcome.
    assert ex.outcomes == [CLOSED] and ex.client.retries == (1 if kind == "aiohttp" else 0)


def test_reset_in_the_middle_of_a_body(kind: str) -> None:
    async def reset(reader: Reader, writer: Writer, server: RawServer) -> None:
        await read_request(reader, server)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}")
        await writer.drain()
        await asyncio.sleep(0.05)
        _abort(writer)

    ex = exchange(reset, kind)
    assert ex.outcomes == [RESET] and ex.client.retries == 0


def test_no_answer_times_out(kind: str) -> None:
    async def silent(reader: Reader, writer: Writer, server: RawServer) -> None:
        await read_request(reader, server)
        await reader.read()  # until the client gives up and closes

    assert exchange(silent, kind, timeout=0.2).outcomes == [TIMEOUT]


# --- malformed responses: one `protocol` outcome each ---------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n{}", id="negative-length"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: lots\r\n\r\n{}", id="length-not-a-number"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", id="two-lengths"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
            id="length-and-chunked",
        ),
        pytest.param(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", id="bad-chunk"),
        pytest.param(b"HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n", id="bad-status"),
        pytest.param(b"garbage\r\n\r\n", id="garbage"),
        pytest.param(b"HTTP/1.1 200 OK\r\nBad Header\r\nContent-Length: 0\r\n\r\n", id="bad-header-line"),
    ],
)
def test_a_malformed_response_is_protocol(kind: str, reply: bytes) -> None:
    ex = exchange(replies(reply, close=True), kind, 2)
    assert ex.outcomes == [PROTOCOL, PROTOCOL]


def test_a_protocol_switch_nobody_asked_for_is_protocol(kind: str) -> None:
    reply = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"
    assert exchange(replies(reply, close=True), kind).outcomes == [PROTOCOL]
