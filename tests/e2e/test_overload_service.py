"""Overload and slow clients against the real service (one worker, real sockets): slow bodies, a stop under a
half-sent body, clients that leave, and a burst far above capacity. Structure and wide bounds only: counts
that must be equal, statuses, and times far from the limits they check."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time
from pathlib import Path

import httpx
import orjson

from contract import routes
from contract.schemas import EXAMPLE_RECORD
from tests import processes

RECORD = orjson.dumps(EXAMPLE_RECORD)


def raw_post(path: str, body: bytes, headers: str = "") -> bytes:
    head = f"POST {path} HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n{headers}content-length: {len(body)}"
    return head.encode() + b"\r\n\r\n" + body


def scrape(base: str) -> dict[str, float]:
    """The service's samples, `name{labels}` -> value (text format)."""
    samples: dict[str, float] = {}
    for line in httpx.get(f"{base}{routes.METRICS}", timeout=10).text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            samples[key] = float(value)
    return samples


def count(samples: dict[str, float], name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))  # as the client writes them
    return samples.get(f"{name}{{{wanted}}}", 0.0)


def log_lines(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def requests_log(log: Path) -> list[dict[str, object]]:
    return [line for line in log_lines(log) if line.get("event") == "request"]


def test_slow_bodies_hold_no_prediction_and_get_408(tmp_path: Path) -> None:
    """200 connections send their head and half a body, then nothing: predictions still answer at once."""
    with processes.service(tmp_path, body_timeout_seconds="3", log_level="warning") as base:
        port = int(base.rsplit(":", 1)[1])
        slow = []
        started = time.monotonic()
        for _ in range(200):
            conn = socket.create_connection(("127.0.0.1", port), timeout=20)
            conn.sendall(raw_post(routes.PREDICT, RECORD)[:-10])
            slow.append(conn)
        with httpx.Client(base_url=base, timeout=10) as client:
            answers = []
            for _ in range(50):
                sent = time.monotonic()
                r = client.post(routes.PREDICT, content=RECORD, headers={"content-type": "application/json"})
                answers.append((r.status_code, time.monotonic() - sent))
        assert time.monotonic() - started < 3  # all of it while the slow bodies were held
        assert [status for status, _ in answers] == [200] * 50
        assert max(seconds for _, seconds in answers) < 0.5  # the loosest latency SLO, with room
        refused = []
        for conn in slow:
            answer = b""
            while chunk := conn.recv(4096):
                answer += chunk
            refused.append(answer.split(b"\r\n", 1)[0])
            conn.close()
        waited = time.monotonic() - started
        assert refused == [b"HTTP/1.1 408 Request Timeout"] * 200
        assert 3 <= waited < 20
        samples = scrape(base)
        assert count(samples, "http_server_read_timeouts_total", phase="body") == 200
        assert (
            count(
                samples,
                "http_server_request_duration_seconds_count",
                method="POST",
                route=routes.PREDICT,
                status_code="408",
            )
            == 200
        )


def test_a_half_sent_body_does_not_hold_a_stop_and_readyz_says_draining(tmp_path: Path) -> None:
    drain, graceful = 2.0, 5
    port = processes.free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "SERVICE_HOST": "127.0.0.1",
        "SERVICE_PORT": str(port),
        "SERVICE_DRAIN_SECONDS": str(drain),
        "SERVICE_GRACEFUL_SHUTDOWN_SECONDS": str(graceful),
        "SERVICE_BODY_TIMEOUT_SECONDS": "60",  # only the stop may end the half-sent body
    }
    with processes.service_process(env, base, tmp_path / "service.log") as proc:
        conn = socket.create_connection(("127.0.0.1", port), timeout=30)
        conn.sendall(raw_post(routes.PREDICT, RECORD)[:-10])
        time.sleep(0.2)
        stopped = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)
        time.sleep(0.3)
        with httpx.Client(base_url=base, timeout=5) as client:
            ready = client.get(routes.READYZ)
            served = client.post(routes.PREDICT, content=RECORD, headers={"content-type": "application/json"})
        assert (ready.status_code, ready.json()) == (503, {"status": "draining"})
        assert served.status_code == 200  # still served while draining
        # uvicorn re-raises the signal it stopped on once it has shut down
        assert proc.wait(drain + graceful + 10) in (0, -signal.SIGTERM)
        took = time.monotonic() - stopped
        assert drain <= took < drain + graceful  # the half-sent body was closed, not waited for
        assert conn.recv(100) == b""
        conn.close()


def test_a_client_that_left_or_whose_deadline_passed_is_not_predicted(tmp_path: Path) -> None:
    slow = json.dumps({"routes": {routes.PREDICT: {"latency_rate": 1.0, "latency_seconds": 0.5}}})
    with processes.service(tmp_path, faults=slow) as base:
        port = int(base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(raw_post(routes.PREDICT, RECORD))
            time.sleep(0.1)  # its prediction is delayed 0.5 s: the client leaves first
        r = httpx.post(
            f"{base}{routes.PREDICT}",
            content=RECORD,
            headers={"content-type": "application/json", "x-request-timeout": "200ms"},
            timeout=5,
        )
        assert r.status_code == 504 and "deadline" in r.json()["detail"]
        time.sleep(0.6)
        samples = scrape(base)
    post = {"method": "POST", "route": routes.PREDICT}
    assert count(samples, "http_server_abandoned_requests_total", route=routes.PREDICT, reason="disconnect") == 1
    assert count(samples, "http_server_abandoned_requests_total", route=routes.PREDICT, reason="deadline") == 1
    assert count(samples, "http_server_request_duration_seconds_count", **post, status_code="499") == 1
    assert count(samples, "http_server_request_duration_seconds_count", **post, status_code="504") == 1
    assert count(samples, "http_server_request_duration_seconds_count", **post, status_code="200") == 0
    lines = requests_log(tmp_path / "service.log")
    assert sorted(str(line.get("abandoned")) for line in lines if line["route"] == routes.PREDICT) == [
        "deadline",
        "disconnect",
    ]


async def burst(port: int, connections: int, body: bytes) -> list[bytes]:
    """One batch request on each of `connections` connections at once; the status lines and Retry-After."""

    async def one() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(raw_post(routes.PREDICT_BATCH, body))
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        writer.close()
        return head

    return await asyncio.gather(*(one() for _ in range(connections)))


def test_a_burst_far_above_capacity_is_shed_fast_and_counted_exactly(tmp_path: Path) -> None:
    """300 batches of 256 records at once (seconds of work for one worker): what waits over 50 ms is shed."""
    body = orjson.dumps({"records": [EXAMPLE_RECORD] * 256})
    with processes.service(tmp_path, max_queue_delay_ms="50", max_body_bytes="131072") as base:
        port = int(base.rsplit(":", 1)[1])
        heads = asyncio.run(burst(port, 300, body))
        time.sleep(1.0)  # the sweeper writes the sheds' summary lines every 0.5 s
        samples = scrape(base)
    statuses = [head.split(b" ", 2)[1] for head in heads]
    shed = [head for head in heads if head.startswith(b"HTTP/1.1 503")]
    assert set(statuses) == {b"200", b"503"} and len(shed) > 150
    assert all(b"retry-after: 1\r\n" in head for head in shed)
    batch = {"method": "POST", "route": routes.PREDICT_BATCH}
    assert count(samples, "http_server_shed_requests_total", route=routes.PREDICT_BATCH) == len(shed)
    assert count(samples, "http_server_request_duration_seconds_count", **batch, status_code="503") == len(shed)
    assert count(samples, "http_server_request_duration_seconds_count", **batch, status_code="200") == 300 - len(shed)
    lines = [line for line in requests_log(tmp_path / "service.log") if line["route"] == routes.PREDICT_BATCH]
    admitted = [float(str(line["duration_ms"])) for line in lines if line["status_code"] == 200]
    assert len(admitted) == 300 - len(shed)
    summaries = [line for line in log_lines(tmp_path / "service.log") if line.get("event") == "shed"]
    assert sum(int(str(line["count"])) for line in summaries) == len(shed)  # the sheds' summary lines
    assert max(admitted) < 50 + 300  # the bound, plus its own service time with room: not seconds behind the queue
