"""The supervisor's parts in-process: the socket it binds, the error line a worker reports."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket

import pytest

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
