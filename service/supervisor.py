"""Several uvicorn workers under one supervisor that fails loudly (`python -m service` with SERVICE_WORKERS > 1).

uvicorn's own supervisor restarts a worker that failed to start forever, or stops with exit code 0,
while its listening socket keeps accepting connections nobody serves. This one:

- binds the port without listening: until a worker is ready the port refuses connections (no probe
  hangs in a backlog nobody reads), and a port in use fails the start before anything else is touched;
- waits for every worker to be ready (its server started, so the model is loaded and warmed up); a
  worker that exits before that (the model does not load, the metrics folder cannot be written, a
  signal such as SIGBUS) stops the whole service: exit 1 and one line, `error: ...`, naming the cause;
- replaces a worker that dies after it was ready (as uvicorn does); a replacement that cannot start
  stops the service the same way, so there is no crash loop behind an open port;
- gives each worker PR_SET_PDEATHSIG: a supervisor killed with SIGKILL takes its workers with it;
- on SIGTERM or SIGINT, stops the workers (SIGTERM, uvicorn's graceful shutdown) and exits 0.

The workers report to the supervisor over a pipe each: "ready", or "failed" with the last error that
uvicorn logged (the exception that stopped the start).
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import uvicorn

from service import draining, metrics_dir
from service.settings import ServiceSettings

#: How long a worker may take to become ready (load and warm the model) before the service gives up.
START_TIMEOUT_SECONDS = 60.0
#: How long stopping workers may take before they are killed.
STOP_TIMEOUT_SECONDS = 30.0
PR_SET_PDEATHSIG = 1
SPAWN = multiprocessing.get_context("spawn")
log = logging.getLogger("uvicorn.error")


def bind(host: str, port: int) -> socket.socket:
    """The service's socket, bound but not listening (the first ready worker's server listens on it)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def die_with_parent(parent: int) -> None:
    """SIGTERM this process when its parent dies (Linux); exit now if it already has."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


class LastError(logging.Handler):
    """The last error uvicorn logged in this worker, as one line (the exception's own line, not its stack)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.line: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            self.line = f"{type(exc).__name__}: {exc}"
            return
        lines = [line for line in record.getMessage().splitlines() if line.strip()]
        if lines and not lines[-1].startswith("Application startup failed"):
            self.line = lines[-1].strip()


def worker(config: uvicorn.Config, sock: socket.socket, report: Connection, parent: int) -> None:
    """A worker process: one uvicorn server on the shared socket, reporting ready or why it failed."""
    die_with_parent(parent)
    lock = metrics_dir.share_lock()  # held for the worker's life: the folder is in use while it writes there
    config.configure_logging()
    last_error = LastError()
    logging.getLogger("uvicorn.error").addHandler(last_error)
    settings = ServiceSettings()
    # One listening handle per worker here: duplicated handles in several worker processes on the one socket hung
    # a first request now and then (e2e, 2 workers: 3-4 runs in 10; none with one handle). The cause is not found.
    server = draining.Server(config, settings.drain_seconds, 1)

    def report_ready() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.02)
        if server.started:
            report.send(("ready", ""))

    threading.Thread(target=report_ready, daemon=True).start()
    code: Any = 0
    try:
        server.run(sockets=[sock])
    except SystemExit as exc:
        code = exc.code
    except BaseException as exc:
        last_error.line = f"{type(exc).__name__}: {exc}"
        code = 1
    if not server.started:
        report.send(("failed", last_error.line or f"exit code {code}"))
        sys.exit(code or 3)
    del lock


@dataclass
class Worker:
    process: Any  # multiprocessing's SpawnProcess
    report: Connection
    ready: bool = False
    reason: str = ""
    started: float = field(default_factory=time.monotonic)

    def poll(self) -> None:
        try:
            while self.report.poll():
                kind, reason = self.report.recv()
                self.ready = self.ready or kind == "ready"
                self.reason = reason or self.reason
        except (EOFError, OSError):
            pass

    def describe_failure(self) -> str:
        code = self.process.exitcode
        if code is not None and code < 0:
            cause = f"killed by {signal.Signals(-code).name}"
        else:
            cause = self.reason or f"exit code {code}"
        return f"service worker {self.process.pid} failed to start: {cause}"


class Supervisor:
    def __init__(self, config: uvicorn.Config, sock: socket.socket, workers: int) -> None:
        self.config = config
        self.sock = sock
        self.count = workers
        self.stopping = threading.Event()
        self.workers: list[Worker] = []

    def spawn(self) -> Worker:
        receive, send = SPAWN.Pipe(duplex=False)
        process = SPAWN.Process(target=worker, args=(self.config, self.sock, send, os.getpid()), daemon=False)
        process.start()
        send.close()
        return Worker(process, receive)

    def run(self) -> str | None:
        """Serve until SIGTERM/SIGINT (None) or until a worker cannot start (the error line)."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stopping.set())
        log.info("Started parent process [%d]", os.getpid())
        self.workers = [self.spawn() for _ in range(self.count)]
        try:
            return self.watch()
        finally:
            self.stop()

    def watch(self) -> str | None:
        while not self.stopping.wait(0.1):
            for slot, current in enumerate(self.workers):
                current.poll()
                if current.process.exitcode is not None:
                    if not current.ready:
                        return current.describe_failure()
                    log.warning(
                        "Worker [%d] died (exit code %s): replacing it", current.process.pid, current.process.exitcode
                    )
                    current.report.close()  # the dead worker's pipe, or one fd leaks per replacement
                    self.workers[slot] = self.spawn()
                elif not current.ready and time.monotonic() - current.started > START_TIMEOUT_SECONDS:
                    return f"service worker {current.process.pid} not ready within {START_TIMEOUT_SECONDS:.0f} s"
        return None

    def stop(self) -> None:
        for w in self.workers:
            if w.process.exitcode is None:
                w.process.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for w in self.workers:
            w.process.join(max(0.0, deadline - time.monotonic()))
            if w.process.exitcode is None:
                w.process.kill()
                w.process.join()
        log.info("Stopping parent process [%d]", os.getpid())
