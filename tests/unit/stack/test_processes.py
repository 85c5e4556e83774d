"""stack/processes.py: free ports, readiness polling, and stopping a process group for sure."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from stack import processes


@contextmanager
def http_server(status: int) -> Iterator[str]:
    """A tiny HTTP server on 127.0.0.1 that answers every GET with this status; yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args: object) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_free_port_can_be_bound() -> None:
    port = processes.free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_answers_only_200(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # loopback is never sent to a proxy
    with http_server(200) as ok, http_server(503) as busy:
        assert processes.answers(ok)
        assert not processes.answers(busy)
    assert not processes.answers(f"http://127.0.0.1:{processes.free_port()}/")  # refused


def test_running_waits_for_ready_and_stops_the_group(tmp_path: Path) -> None:
    port = processes.free_port()
    url = f"http://127.0.0.1:{port}/"
    args = ["-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(tmp_path)]
    with processes.running(args, ready_url=url, log=tmp_path / "log") as proc:
        assert processes.answers(url)
    assert proc.returncode == -signal.SIGTERM
    assert not processes.answers(url)
    assert (tmp_path / "log").exists()


def test_a_process_that_exits_before_ready_fails_at_once() -> None:
    url = f"http://127.0.0.1:{processes.free_port()}/"
    with (
        pytest.raises(RuntimeError, match="exited with 3"),
        processes.running(["-c", "raise SystemExit(3)"], ready_url=url),
    ):
        pass


def test_wait_until_ready_gives_up_at_the_deadline() -> None:
    url = f"http://127.0.0.1:{processes.free_port()}/"
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True)
    try:
        with pytest.raises(TimeoutError):
            processes.wait_until_ready(url, proc, timeout=0.2)
    finally:
        processes.stop(proc)


def test_stop_kills_what_ignores_sigterm() -> None:
    ignores = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(flush=True); time.sleep(30)"
    proc = subprocess.Popen([sys.executable, "-c", ignores], stdout=subprocess.PIPE, start_new_session=True)
    assert proc.stdout is not None
    proc.stdout.readline()  # the handler is in place
    assert processes.stop(proc, timeout=0.2) == -signal.SIGKILL
    proc.stdout.close()
