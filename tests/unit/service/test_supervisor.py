"""The supervisor's parts in-process: the socket it binds, the error line a worker reports."""

from __future__ import annotations

import ctypes
import logging
import os
import re
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import uvicorn

from service import supervisor


def test_the_socket_is_bound_but_refuses_connections_until_a_worker_listens() -> None:
    sock = supervisor.bind("127.0.0.1", 0)
    try:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(sock.getsockname(), timeout=2)
        assert sock.get_inheritable()
    finally:
        sock.close()


def test_a_port_in_use_is_an_os_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError, match="in use"):
            supervisor.bind("127.0.0.1", taken.getsockname()[1])


def test_the_last_error_is_one_line() -> None:
    capture = supervisor.LastError()
    log = logging.getLogger("test.supervisor")
    log.addHandler(capture)
    try:
        log.error("Traceback (most recent call last):\n  File x\nRuntimeError: cannot load model\n")
        log.error("Application startup failed. Exiting.")
        assert capture.line == "RuntimeError: cannot load model"
        try:
            raise PermissionError(13, "Permission denied")
        except PermissionError:
            log.exception("Error loading ASGI app.")
        assert capture.line == "PermissionError: [Errno 13] Permission denied"
    finally:
        log.removeHandler(capture)


def test_a_failure_names_the_worker_and_its_cause() -> None:
    class Process:
        pid = 1234
        exitcode = -int(signal.SIGBUS)

    receive, send = supervisor.SPAWN.Pipe(duplex=False)
    worker = supervisor.Worker(Process(), receive)
    assert worker.describe_failure() == "service worker 1234 failed to start: killed by SIGBUS"
    send.send(("failed", "RuntimeError: cannot load model"))
    worker.poll()
    Process.exitcode = 3
    assert worker.describe_failure() == "service worker 1234 failed to start: RuntimeError: cannot load model"
    assert not worker.ready


def test_a_process_whose_parent_is_gone_exits(monkeypatch: pytest.MonkeyPatch) -> None:
    exits: list[int] = []
    monkeypatch.setattr(supervisor.os, "_exit", exits.append)
    try:
        supervisor.die_with_parent(os.getppid())
        assert exits == []
        supervisor.die_with_parent(os.getppid() + 1_000_000)
        assert exits == [1]
    finally:  # this test process must not die with its parent
        ctypes.CDLL(None).prctl(supervisor.PR_SET_PDEATHSIG, 0, 0, 0, 0)


@pytest.fixture
def keep_signal_handlers() -> Iterator[None]:
    """The supervisor installs SIGTERM/SIGINT handlers in this (the test's) process: put pytest's back."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def supervise(app: str, workers: int, until: Callable[[supervisor.Supervisor], bool]) -> str | None:
    """Run a supervisor of `workers` workers serving `app` until `until(it)` is true (then stop it) or it returns."""
    sock = supervisor.bind("127.0.0.1", 0)
    config = uvicorn.Config(app, lifespan="on", log_config=None, access_log=False)
    it = supervisor.Supervisor(config, sock, workers)

    def watch() -> None:
        deadline = time.monotonic() + 60
        while not it.stopping.is_set() and time.monotonic() < deadline:
            if it.workers and until(it):
                it.stopping.set()
            time.sleep(0.05)
        it.stopping.set()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        return it.run()
    finally:
        it.stopping.set()
        watcher.join()
        sock.close()


def test_workers_serve_on_the_shared_socket_and_a_dead_one_is_replaced(keep_signal_handlers: None) -> None:
    killed: list[int] = []
    answers: list[bytes] = []

    def until(it: supervisor.Supervisor) -> bool:
        for w in it.workers:
            w.poll()
        if not all(w.ready for w in it.workers):
            return False
        if not killed:  # once all are ready: kill one, then wait for its replacement to be ready
            with socket.create_connection(it.sock.getsockname(), timeout=5) as conn:
                conn.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
                answers.append(conn.recv(1024))
            killed.append(it.workers[0].process.pid)
            os.kill(killed[0], signal.SIGKILL)
            return False
        return killed[0] not in {w.process.pid for w in it.workers}

    assert supervise("tests.unit.service.tiny_app:app", 2, until) is None
    assert answers and answers[0].startswith(b"HTTP/1.1 200")


def test_a_worker_that_cannot_start_stops_the_service_with_its_reason(keep_signal_handlers: None) -> None:
    error = supervise("tests.unit.service.tiny_app:broken", 2, lambda it: False)
    assert error is not None
    assert re.fullmatch(r"service worker \d+ failed to start: RuntimeError: cannot load model", error), error


def test_an_app_that_cannot_be_imported_stops_the_service(keep_signal_handlers: None) -> None:
    error = supervise("tests.unit.service.no_such_module:app", 1, lambda it: False)
    assert error is not None and "failed to start" in error and "no_such_module" in error, error
