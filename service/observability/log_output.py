"""Where the JSON lines go: the lines of one event-loop turn leave in one write, at the end of that turn.

structlog's BytesLogger writes and flushes every line: one write() system call per request, which a py-spy
profile of bench/instrument.py's (b) under load showed as the largest single piece of what the instrumentation
adds to a request (docs/performance.md). Here a line logged on a thread that
runs an event loop is kept until the end of the loop's turn (a callback queued behind the turn's work), and the
turn's lines leave together; anywhere else (start-up, another thread, a test without a loop) a line is written
at once, after whatever is kept, so the lines stay in the order they were logged.

The lines leave in writes of at most PIPE_BUF bytes, each cut at a line's end: the workers of a service share
one stdout, a pipe in a container, which keeps such a write whole but may interleave a longer one with another
worker's. Lines are kept until the end of the turn or until they fill such a write, whichever comes first, so a
long synchronous step (a warm-up at start-up) does not pile them up. At the interpreter's exit what is kept is
written (atexit); a process killed outright loses what is kept, at most a turn's lines and at most PIPE_BUF
bytes. A forked child drops its parent's kept lines (the parent writes them). uvicorn's and the libraries' own
lines (stdlib logging) are written at once, so in the combined stream a request line can follow a library line
logged after it in the same turn.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import select
import threading
import weakref
from typing import BinaryIO

#: The most bytes written at once: a pipe (a container's stdout, which several workers share) keeps a write of
#: up to PIPE_BUF bytes whole; a longer one may be interleaved with another worker's, mid-line.
WRITE_BYTES = select.PIPE_BUF
_WRITERS: weakref.WeakSet[TurnWriter] = weakref.WeakSet()


class TurnWriter:
    """A structlog logger for rendered lines (bytes) to `file`: service/observability/logging.py makes one for all."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self._lines: list[bytes] = []
        self._size = 0  # bytes kept, newlines included
        self._loop: asyncio.AbstractEventLoop | None = None  # whose turn's end will write the kept lines
        # Held while writing, so that lines from several threads leave in the order they were logged; re-entrant for
        # a line logged from a signal handler that interrupts a write.
        self._lock = threading.RLock()
        _WRITERS.add(self)

    def msg(self, message: bytes) -> None:
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        with self._lock:
            self._lines.append(message)
            self._size += len(message) + 1
            if loop is None or (self._loop is not None and self._loop is not loop) or self._size >= WRITE_BYTES:
                self._write()  # no turn to wait for (or another loop's), or a write's worth: now, after what is kept
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
        lines, self._lines, self._size = self._lines, [], 0
        piece: list[bytes] = []
        size = 0
        for line in lines:
            if piece and size + len(line) + 1 > WRITE_BYTES:
                self._write_piece(piece)
                piece, size = [], 0
            piece.append(line)
            size += len(line) + 1
        if piece:
            self._write_piece(piece)

    def _write_piece(self, lines: list[bytes]) -> None:
        lines.append(b"")
        self._file.write(b"\n".join(lines))
        self._file.flush()

    def _forget(self) -> None:
        self._lines, self._size, self._loop, self._lock = [], 0, None, threading.RLock()


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
