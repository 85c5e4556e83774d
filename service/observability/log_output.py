"""Where the JSON lines go: the lines of one event-loop turn leave in one write, at the end of that turn.

structlog's BytesLogger writes and flushes every line: one write() system call per request. Under load that was
the largest single cost the instrumentation adds to a request (py-spy on bench/instrument.py's (b), on a slow
hour of this VM: 13.7 µs a request, against 5 µs for rendering the line). Here a line logged on a thread that
runs an event loop is kept until the end of the loop's turn (a callback queued behind the turn's work), and the
turn's lines leave together; anywhere else (start-up, another thread, a test without a loop) a line is written
at once, after whatever is kept, so the lines stay in the order they were logged.

Nothing waits longer than the turn it was logged in. At the interpreter's exit what is kept is written (atexit);
a process killed outright loses at most its current turn's lines. A forked child drops its parent's kept lines
(the parent writes them).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import threading
import weakref
from typing import BinaryIO

_WRITERS: weakref.WeakSet[TurnWriter] = weakref.WeakSet()


class TurnWriter:
    """A structlog logger for rendered lines (bytes) to `file`: service/observability/logging.py makes one for all."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self._lines: list[bytes] = []
        self._loop: asyncio.AbstractEventLoop | None = None  # whose turn's end will write the kept lines
        self._lock = threading.Lock()
        _WRITERS.add(self)

    def msg(self, message: bytes) -> None:
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        with self._lock:
            self._lines.append(message)
            if loop is None or (self._loop is not None and self._loop is not loop):
                self._write()  # no turn to wait for (or another loop's): now, after what is kept
            elif self._loop is None:
                self._loop = loop
                loop.call_soon(self.flush)

    log = debug = info = warn = warning = err = error = critical = exception = failure = fatal = msg

    def flush(self) -> None:
        """Write the kept lines now."""
        with self._lock:
            self._write()

    def _write(self) -> None:
        self._loop = None
        if not self._lines:
            return
        lines, self._lines = self._lines, []
        lines.append(b"")
        self._file.write(b"\n".join(lines))
        self._file.flush()

    def _forget(self) -> None:
        self._lines, self._loop, self._lock = [], None, threading.Lock()


def _flush_all() -> None:
    for writer in list(_WRITERS):
        # (OSError, ValueError: the file closed first, a test's or a pipe whose reader left: nothing to do)
        with contextlib.suppress(OSError, ValueError):
            writer.flush()


def _forget_all() -> None:
    for writer in list(_WRITERS):
        writer._forget()


atexit.register(_flush_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_all)
