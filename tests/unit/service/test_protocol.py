"""The service's protocol on a real socket, raw bytes in and out (uvicorn's tests/protocols style): the body read
before the task, admission at arrival and at the start, read timeouts, the connection cap, deadlines and
disconnects.

Also the guard on uvicorn's internals that service/protocol.py overrides (`_start_asgi_task`, the parser
callbacks, `connection_lost`, `eof_received`, `shutdown`): if uvicorn renames or reorders them, these answers
change and the tests fail.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn
from prometheus_client import REGISTRY
from starlette.types import Receive, Scope, Send

from contract import routes
from service import admission
from service.admission import Admission, Recorder
from service.http_limits import HeadLimits
from service.pacing import Pacer
from service.protocol import Guards, ServiceProtocol
from tests.unit.service.conftest import LogCapture, read_until, serve_in_thread

PREDICT = routes.PREDICT.encode()
ADMISSION = Admission(0.05)
GUARDS = Guards(
    head_timeout=0.5,
    body_timeout=0.5,
    max_connections=8,
    max_body_bytes=1024,
    retry_after=2,
    admission=ADMISSION,
    recorder=Recorder(True),
    pacer=Pacer(ADMISSION),
)
SEEN: dict[str, Any] = {}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Echoes the body; `x-block: s` blocks the loop, `x-sleep: s` awaits, before answering; `x-stream: s` awaits
    between the head and the body."""
    if scope["type"] != "http":
        return
    SEEN["started"] = time.perf_counter()
    headers = dict(scope["headers"])
    if b"x-block" in headers:
        time.sleep(float(headers[b"x-block"]))
    if b"x-sleep" in headers:
        await asyncio.sleep(float(headers[b"x-sleep"]))
    SEEN["abandoned"] = admission.abandoned(scope)
    message = await receive()
    body = message.get("body", b"")
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
    if b"x-stream" in headers:  # the head now, the body after a while
        await asyncio.sleep(float(headers[b"x-stream"]))
    await send({"type": "http.response.body", "body": body})


class Protocol(ServiceProtocol):
    limits = HeadLimits(url_bytes=256, head_bytes=2048, headers=16, record=True)
    guards = GUARDS


@pytest.fixture(scope="module")
def address() -> Iterator[tuple[str, int]]:
    yield from serve_in_thread(app, Protocol)


@pytest.fixture(autouse=True)
def fresh_queue() -> None:
    GUARDS.admission.pending, GUARDS.admission.cost = 0, 0.0
    SEEN.clear()


def post(path: bytes = PREDICT, body: bytes = b"hello", headers: bytes = b"") -> bytes:
    return b"POST %s HTTP/1.1\r\nhost: h\r\n%scontent-length: %d\r\n\r\n%s" % (path, headers, len(body), body)


def read_answers(conn: socket.socket, count: int = 1) -> bytes:
    """Read until `count` answers (each ends with its body: every body here is short JSON or `hello`) or EOF."""
    return read_until(conn, lambda a: a.count(b"HTTP/1.1 ") >= count and (a.endswith(b"}") or a.endswith(b"hello")))


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_the_task_starts_once_the_body_is_complete(address: tuple[str, int]) -> None:
    with socket.create_connection(address, timeout=5) as conn:
        conn.sendall(post()[:-3])
        time.sleep(0.2)
        sent = time.perf_counter()
        conn.sendall(b"llo")
        answer = read_answers(conn)
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"hello")
    assert SEEN["started"] >= sent


def test_expect_100_continue_is_answered_before_the_body(address: tuple[str, int]) -> None:
    with socket.create_connection(address, timeout=5) as conn:
        conn.sendall(post(headers=b"expect: 100-continue\r\n")[:-5])
        assert conn.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        conn.sendall(b"hello")
        assert read_answers(conn).endswith(b"hello")


def test_a_prediction_predicted_to_wait_too_long_is_shed_at_arrival_and_counted(
    address: tuple[str, int], log: LogCapture
) -> None:
    from service.observability import logging as service_logging

    service_logging.configure("info")
    shed = sample("http_server_shed_requests_total", route=routes.PREDICT)
    answered = sample(
        "http_server_request_duration_seconds_count", method="POST", route=routes.PREDICT, status_code="503"
    )
    GUARDS.admission.pending, GUARDS.admission.cost = 100, 0.001  # 100 ms ahead of it, over the 50 ms bound
    with socket.create_connection(address, timeout=5) as conn:
        conn.sendall(post())
        answer = read_answers(conn)
        assert SEEN == {}  # no task ran
        GUARDS.admission.pending = 0
        conn.sendall(post())  # the connection is kept: the next request is served
        again = read_answers(conn)
    assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert b"retry-after: 2\r\n" in answer and b"connection: close" not in answer
    assert answer.endswith(admission.SHED_DETAIL)
    assert again.startswith(b"HTTP/1.1 200")
    assert sample("http_server_shed_requests_total", route=routes.PREDICT) - shed == 1
    after = sample("http_server_request_duration_seconds_count", method="POST", route=routes.PREDICT, status_code="503")
    assert after - answered == 1
    time.sleep(0.3)  # the sweeper logs a summary line of the sheds every 50 ms here
    (line,) = [line for line in log.lines() if line["event"] == "shed"]
    assert (line["route"], line["count"], line["status_code"]) == (routes.PREDICT, 1, 503)
    assert not [line for line in log.requests() if line["status_code"] == 503]  # no line each


def test_other_routes_are_never_shed(address: tuple[str, int]) -> None:
    GUARDS.admission.pending, GUARDS.admission.cost = 100, 0.001
    with socket.create_connection(address, timeout=5) as conn:
        conn.sendall(post(routes.HEALTHZ.encode()))
        assert read_answers(conn).startswith(b"HTTP/1.1 200")


def test_a_prediction_that_waited_too_long_is_shed_at_its_start(address: tuple[str, int]) -> None:
    """Two pipelined predictions: the first blocks the loop for 200 ms, so the second waited past the 100 ms latency
    objective the 50 ms bound is half of."""
    shed = sample("http_server_shed_requests_total", route=routes.PREDICT)
    with socket.create_connection(address, timeout=5) as conn:
        conn.sendall(post(headers=b"x-block: 0.2\r\n") + post())
        answer = read_answers(conn, 2)
    first, second = answer.split(b"HTTP/1.1 ")[1:]
    assert first.startswith(b"200") and second.startswith(b"503 Service Unavailable")
    assert b"retry-after: 2" in second
    assert sample("http_server_shed_requests_total", route=routes.PREDICT) - shed == 1
    assert sample("http_server_queue_delay_seconds_bucket", route=routes.PREDICT, le="0.15") < sample(
        "http_server_queue_delay_seconds_count", route=routes.PREDICT
    )


def test_the_loop_time_per_request_is_learnt_from_busy_starts_only() -> None:
    queue = Admission(0.05)
    first = Admission.FIRST_COST
    assert queue.cost == first  # pessimistic until measured
    assert queue.admit(True) and queue.admit(True)
    queue.start(10.0, ready=9.0)  # the first after idle time: nothing learnt
    assert queue.cost == first
    queue.start(10.01, ready=9.0)  # queued behind it: the loop spent 10 ms on the first
    learnt = first + (0.01 - first) * Admission.ALPHA
    assert queue.cost == pytest.approx(learnt)
    assert queue.pending == 0
    queue.shed_at_start()
    queue.start(10.02, ready=9.0)  # after a shed at the start: a shed's gap, not learnt
    assert queue.cost == pytest.approx(learnt)
    queue.cost = 0.005
    assert all(queue.admit(True) for _ in range(7))  # 0 to 30 ms ahead: within 60% of the bound
    assert not queue.admit(True) and queue.admit(False)  # 35 ms ahead: over it (other routes: never shed)
    assert not Admission(0).over(99.0) and Admission(0).admit(True)


def test_behind_a_prediction_the_gate_sheds_only_what_the_objective_cannot_take() -> None:
    """With arrival admission, a request that waited past the bound can still be answered within the objective
    (twice the default bound): served; past the objective, shed. Without one (plain uvicorn), the bound sheds."""
    predicted, alone = Admission(0.05, predicted=True), Admission(0.05)
    assert not predicted.over(0.06) and predicted.over(0.101)
    assert alone.over(0.051)


def test_a_slow_body_is_408_after_its_timeout_and_counted(address: tuple[str, int]) -> None:
    before = sample("http_server_read_timeouts_total", phase="body")
    with socket.create_connection(address, timeout=5) as conn:
        start = time.monotonic()
        conn.sendall(post()[:-2])
        answer = read_answers(conn)
        took = time.monotonic() - start
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout")
    assert b"request body not received within 0.5 s (SERVICE_BODY_TIMEOUT_SECONDS)" in answer
    assert 0.5 <= took < 3
    assert SEEN == {}
    assert sample("http_server_read_timeouts_total", phase="body") - before == 1
    assert sample("http_server_request_duration_seconds_count", method="POST", route=routes.PREDICT, status_code="408")


def test_a_slow_head_is_408_and_a_silent_connection_is_closed(address: tuple[str, int]) -> None:
    before = sample("http_server_read_timeouts_total", phase="head")
    with socket.create_connection(address, timeout=5) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nhost:")
        assert read_answers(conn).startswith(b"HTTP/1.1 408")
    with socket.create_connection(address, timeout=5) as conn:
        assert conn.recv(100) == b""
    assert sample("http_server_read_timeouts_total", phase="head") - before == 1


def test_a_body_over_the_limit_is_413_before_it_arrives(address: tuple[str, int]) -> None:
    with socket.create_connection(address, timeout=5) as conn:
        conn.sendall(b"POST /v1/predict HTTP/1.1\r\nhost: h\r\ncontent-length: 5000\r\n\r\n")
        answer = read_answers(conn)
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"request body exceeds 1024 bytes (SERVICE_MAX_BODY_BYTES)" in answer


def test_a_chunked_body_over_the_limit_is_413(address: tuple[str, int]) -> None:
    with socket.create_connection(address, timeout=5) as conn:
        conn.sendall(b"POST /v1/predict HTTP/1.1\r\nhost: h\r\ntransfer-encoding: chunked\r\n\r\n")
        conn.sendall(b"400\r\n" + b"a" * 1024 + b"\r\n" + b"10\r\n" + b"a" * 16 + b"\r\n")
        assert read_answers(conn).startswith(b"HTTP/1.1 413")


def test_connections_over_the_cap_are_closed(address: tuple[str, int]) -> None:
    conns = [socket.create_connection(address, timeout=5) for _ in range(8)]
    try:
        extra = socket.create_connection(address, timeout=5)
        assert extra.recv(100) == b""
        extra.close()
        conns[0].sendall(post())
        assert read_answers(conns[0]).startswith(b"HTTP/1.1 200")
    finally:
        for conn in conns:
            conn.close()


def test_a_deadline_is_seen_and_a_malformed_one_refused(address: tuple[str, int]) -> None:
    with socket.create_connection(address, timeout=5) as conn:
        conn.sendall(post(headers=b"x-request-timeout: 150ms\r\nx-sleep: 0.2\r\n"))
        assert read_answers(conn).startswith(b"HTTP/1.1 200")
    assert SEEN["abandoned"] == "deadline"
    with socket.create_connection(address, timeout=5) as conn:
        conn.sendall(post(headers=b"x-request-timeout: soon\r\n"))
        answer = read_answers(conn)
    assert answer.startswith(b"HTTP/1.1 400") and b"X-Request-Timeout: not a duration" in answer


def test_every_deadline_field_is_checked(address: tuple[str, int]) -> None:
    """A malformed one is refused even when a well-formed one follows it."""
    with socket.create_connection(address, timeout=5) as conn:
        conn.sendall(post(headers=b"x-request-timeout: soon\r\nx-request-timeout: 1s\r\n"))
        answer = read_answers(conn)
    assert answer.startswith(b"HTTP/1.1 400") and b"X-Request-Timeout: not a duration" in answer


def test_a_deadline_no_answer_could_meet_is_refused(address: tuple[str, int]) -> None:
    """Its 504 would be a server error of the client's making, burning the availability SLO at will."""
    with socket.create_connection(address, timeout=5) as conn:
        conn.sendall(post(headers=b"x-request-timeout: 0\r\n"))
        answer = read_answers(conn)
    assert answer.startswith(b"HTTP/1.1 400") and b"X-Request-Timeout: under the minimum 100ms" in answer
    assert SEEN == {}


def test_a_pipelined_shed_leaves_the_next_head_its_timeout(address: tuple[str, int]) -> None:
    """A served, B (pipelined behind it) shed when A ends, C's head half-sent: C still gets its 408."""
    with socket.create_connection(address, timeout=5) as conn:
        conn.sendall(post(headers=b"x-sleep: 0.2\r\n") + post() + b"POST " + PREDICT + b" HTTP/1.1\r\nhost:")
        time.sleep(0.1)  # A is awaiting: B's turn comes when A ends, 100 ms of work ahead of it by then
        GUARDS.admission.pending, GUARDS.admission.cost = 100, 0.001
        answers = read_answers(conn, 3)
    assert answers.startswith(b"HTTP/1.1 200") and b"HTTP/1.1 503" in answers
    assert answers.split(b"HTTP/1.1 ")[3].startswith(b"408")


def test_a_head_request_is_never_given_the_canned_body(address: tuple[str, int]) -> None:
    GUARDS.admission.pending, GUARDS.admission.cost = 100, 0.001
    with socket.create_connection(address, timeout=5) as conn:
        conn.sendall(b"HEAD " + PREDICT + b" HTTP/1.1\r\nhost: h\r\n\r\n")
        time.sleep(0.3)
        answer = conn.recv(65536)
    assert answer.startswith(b"HTTP/1.1 ") and admission.SHED_DETAIL not in answer


def test_a_client_that_left_is_seen(address: tuple[str, int]) -> None:
    with socket.create_connection(address, timeout=5) as conn:
        conn.sendall(post(headers=b"x-sleep: 0.2\r\n"))
        time.sleep(0.05)
    deadline = time.monotonic() + 3
    while "abandoned" not in SEEN and time.monotonic() < deadline:
        time.sleep(0.02)
    assert SEEN["abandoned"] == "disconnect"


class Patient(ServiceProtocol):
    """Read timeouts far longer than the test: only the shutdown can end the connection."""

    limits = Protocol.limits
    guards = Guards(30, 30, 8, 1024, 1, Admission(0.05), Recorder(False), Pacer(Admission(0.05)))


def test_a_half_sent_request_does_not_hold_a_shutdown() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app, http=Patient, lifespan="off", log_config=None, access_log=False, timeout_graceful_shutdown=30
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    with socket.create_connection(sock.getsockname(), timeout=5) as conn:
        conn.sendall(post()[:-2])
        time.sleep(0.05)
        start = time.monotonic()
        server.should_exit = True
        thread.join(10)
        assert not thread.is_alive()
        assert time.monotonic() - start < 2  # not the 30 s graceful bound


def test_a_response_whose_body_comes_later_has_its_head_sent_at_once(address: tuple[str, int]) -> None:
    """The head is held for its body (one send) only until the end of the loop turn, not until the body comes."""
    with socket.create_connection(address, timeout=5) as conn:
        conn.sendall(post(headers=b"x-stream: 1\r\n"))
        conn.settimeout(0.5)
        head = read_until(conn, lambda a: a.endswith(b"\r\n\r\n"))
        assert head.startswith(b"HTTP/1.1 200") and b"content-length: 5" in head
        conn.settimeout(5)
        assert read_until(conn, lambda a: a == b"hello") == b"hello"


def test_answers_without_a_body_write_are_sent(address: tuple[str, int]) -> None:
    """A HEAD answer (uvicorn writes no body) and a closing answer leave although nothing follows them."""
    with socket.create_connection(address, timeout=5) as conn:
        conn.sendall(b"HEAD " + PREDICT + b" HTTP/1.1\r\nhost: h\r\n\r\n")
        head = read_until(conn, lambda a: a.endswith(b"\r\n\r\n"))
        assert head.startswith(b"HTTP/1.1 200") and b"content-length: 0" in head
        conn.sendall(post(headers=b"connection: close\r\n"))
        answer = read_until(conn, lambda a: a.endswith(b"hello"))
        assert answer.startswith(b"HTTP/1.1 200") and b"connection: close" in answer
        assert conn.recv(1) == b""  # then closed


def test_pipelined_answers_keep_their_order(address: tuple[str, int]) -> None:
    with socket.create_connection(address, timeout=5) as conn:
        # (not a prediction route: the third waits behind the second's 50 ms, which the Gate would shed)
        requests = [post(b"/echo", b"one"), post(b"/echo", b"two", b"x-stream: 0.05\r\n"), post(b"/echo", b"three")]
        conn.sendall(b"".join(requests))
        answers = read_until(conn, lambda a: a.endswith(b"three"))
    assert [answer.split(b"\r\n\r\n")[1] for answer in answers.split(b"HTTP/1.1 200 OK\r\n")[1:]] == [
        b"one",
        b"two",
        b"three",
    ]


class Sends:
    """The socket's transport, counting the sends asked of it (a write, or a writelines: one system call)."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self.sends: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.sends.append(bytes(data))
        self._transport.write(data)

    def writelines(self, buffers: Iterable[bytes]) -> None:
        buffers = list(buffers)
        self.sends.append(b"".join(buffers))
        self._transport.writelines(buffers)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


SENDS: list[Sends] = []


class Counted(Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        SENDS.append(Sends(transport))
        super().connection_made(SENDS[-1])  # type: ignore[arg-type]


def test_a_response_leaves_in_one_send() -> None:
    SENDS.clear()
    with contextmanager(serve_in_thread)(app, Counted) as address, socket.create_connection(address, timeout=5) as conn:
        for _ in range(2):
            conn.sendall(post(b"/echo"))
            assert read_answers(conn).endswith(b"hello")
    (connection,) = SENDS
    assert len(connection.sends) == 2  # one for each answer, its head and its body
    for send in connection.sends:
        assert send.startswith(b"HTTP/1.1 200 OK\r\n") and send.endswith(b"\r\n\r\nhello")
