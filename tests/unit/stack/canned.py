"""A canned Prometheus on 127.0.0.1: a real HTTP server in a thread that answers the API calls a test
sets up, so the stack's client, report and dashboard checker run over a real socket in-process."""

from __future__ import annotations

import json
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: (path, params) -> (status, body): a dict is sent as JSON, a str as plain text.
Answer = tuple[int, dict[str, Any] | str]


def vector(*values: float | str, metric: dict[str, str] | None = None) -> Answer:
    """A successful instant query: one series per value."""
    result = [{"metric": metric or {}, "value": [0, str(v)]} for v in values]
    return 200, {"status": "success", "data": {"resultType": "vector", "result": result}}


def matrix(*series: tuple[dict[str, str], list[tuple[float, float]]]) -> Answer:
    """A successful range query: (labels, [(time, value), ...]) per series."""
    result = [{"metric": labels, "values": [[t, str(v)] for t, v in values]} for labels, values in series]
    return 200, {"status": "success", "data": {"resultType": "matrix", "result": result}}


@dataclass
class CannedPrometheus:
    url: str
    #: PromQL -> answer for /api/v1/query; anything else there is an empty vector.
    queries: dict[str, Answer] = field(default_factory=dict)
    #: PromQL -> answer for /api/v1/query_range; anything else there is an empty matrix.
    ranges: dict[str, Answer] = field(default_factory=dict)
    #: other paths -> answer.
    paths: dict[str, Answer] = field(default_factory=dict)
    seen: list[dict[str, str]] = field(default_factory=list)

    def answer(self, path: str, params: dict[str, str]) -> Answer:
        if path == "/api/v1/query":
            self.seen.append(params)
            return self.queries.get(params.get("query", ""), vector())
        if path == "/api/v1/query_range":
            self.seen.append(params)
            return self.ranges.get(params.get("query", ""), matrix())
        return self.paths.get(path, (404, "404 page not found"))


class Server(ThreadingHTTPServer):
    request_queue_size = 64  # the status asks several questions at once: a backlog of 5 drops SYNs (1 s retries)


@contextmanager
def serving() -> Iterator[CannedPrometheus]:
    canned = CannedPrometheus("")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parsed = urllib.parse.urlsplit(self.path)
            status, body = canned.answer(parsed.path, dict(urllib.parse.parse_qsl(parsed.query)))
            data = json.dumps(body).encode() if isinstance(body, dict) else body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if isinstance(body, dict) else "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # quiet: the test output is the report
            pass

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    canned.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield canned
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def closed_port_url() -> str:
    """A loopback URL nothing listens on (the port is bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"
