"""Request-head limits on a real socket: uvicorn serving a tiny app with the limited protocol on 127.0.0.1.

Also the guard on uvicorn's protocol internals that service/http_limits.py overrides: if uvicorn renames or
reorders its parser callbacks, these answers change and the tests fail.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY
from starlette.types import Receive, Scope, Send

from service.http_limits import HeadLimits, LimitedHttpToolsProtocol
from service.observability import logging as service_logging
from tests.unit.service.conftest import LogCapture, read_until, serve_in_thread

LIMITS = HeadLimits(url_bytes=256, head_bytes=2048, headers=16, record=True)


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


class Limited(LimitedHttpToolsProtocol):
    limits = LIMITS


@pytest.fixture(scope="module")
def address() -> Iterator[tuple[str, int]]:
    yield from serve_in_thread(echo, Limited)


def exchange(address: tuple[str, int], *parts: bytes) -> bytes:
    """Send the parts (each a separate write) and read until the server closes or answers one response."""
    with socket.create_connection(address, timeout=5) as conn:
        try:
            for part in parts:
                conn.sendall(part)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before everything was sent: read the answer
        return read_until(conn, lambda a: (b"\r\n\r\n" in a and a.endswith(b"}")) or a.endswith(b"hello"))


def test_a_normal_request_passes_with_its_body(address: tuple[str, int]) -> None:
    answer = exchange(address, b"POST /x?a=1 HTTP/1.1\r\nhost: h\r\ncontent-length: 5\r\n\r\nhello")
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"hello")


def test_a_long_url_is_414_counted_and_logged(address: tuple[str, int], log: LogCapture) -> None:
    service_logging.configure("info")
    labels = {"method": "GET", "route": "unmatched", "status_code": "414"}
    before = REGISTRY.get_sample_value("http_server_request_duration_seconds_count", labels) or 0.0
    answer = exchange(address, b"GET /" + b"a" * 300 + b" HTTP/1.1\r\nhost: h\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 414 URI Too Long")
    assert answer.endswith(b'{"detail":"request target exceeds 256 bytes (SERVICE_MAX_URL_BYTES)"}')
    assert b"connection: close" in answer
    assert (REGISTRY.get_sample_value("http_server_request_duration_seconds_count", labels) or 0.0) - before == 1
    (line,) = log.requests()
    assert (line["status_code"], line["route"], line["refused"]) == (
        414,
        "unmatched",
        "request target exceeds 256 bytes (SERVICE_MAX_URL_BYTES)",
    )


def test_too_many_header_fields_is_431(address: tuple[str, int]) -> None:
    headers = b"".join(b"x-%d: 1\r\n" % i for i in range(17))
    answer = exchange(address, b"GET / HTTP/1.1\r\n" + headers + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large")
    assert b"more than 16 header fields (SERVICE_MAX_HEADERS)" in answer


def test_a_large_complete_header_is_431(address: tuple[str, int]) -> None:
    answer = exchange(address, b"GET / HTTP/1.1\r\nx-big: " + b"a" * 3000 + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 431")
    assert b"request head exceeds 2048 bytes (SERVICE_MAX_HEADER_BYTES)" in answer


def test_an_endless_header_is_refused_before_it_ends(address: tuple[str, int]) -> None:
    """1 MiB of one header's value, never finished: refused while it streams in, not buffered whole."""
    parts = [b"GET / HTTP/1.1\r\nx-big: "] + [b"a" * 65536] * 16
    answer = exchange(address, *parts)
    assert answer.startswith(b"HTTP/1.1 431")


def test_keep_alive_requests_each_get_a_fresh_count(address: tuple[str, int]) -> None:
    """Twelve requests of 10 headers on one connection: each head is counted on its own."""
    headers = b"".join(b"x-%d: 1\r\n" % i for i in range(10))
    with socket.create_connection(address, timeout=5) as conn:
        for _ in range(12):
            conn.sendall(b"POST / HTTP/1.1\r\n" + headers + b"content-length: 5\r\n\r\nhello")
            answer = b""
            while not answer.endswith(b"hello"):
                chunk = conn.recv(65536)
                assert chunk
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200")


def test_limits_come_from_the_settings() -> None:
    from service.settings import ServiceSettings

    limits = HeadLimits.from_settings(ServiceSettings(max_url_bytes=300, max_header_bytes=4096, max_headers=20))
    assert limits == HeadLimits(300, 4096, 20, True)
