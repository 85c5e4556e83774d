"""A wake-up for the event loop in so many microseconds, without spinning.

The loop's own timers count milliseconds (libuv's, and epoll's timeout), so an engine waiting for a request
due in 300 µs could only yield to I/O and look again: a busy core. On a machine where the target (or another
worker) shares the cores, that spinning takes the CPU the others need, and their latency rises. A Linux timerfd
(CLOCK_MONOTONIC) is a file descriptor the loop watches like a socket: the process sleeps in
epoll until the timer expires or until I/O, whichever comes first (the kernel's timer slack, 50 µs by default,
is the precision). Python has `os.timerfd_create` from 3.13 only; before that, two libc calls through ctypes.
Where there is no timerfd (not Linux) `Alarm.open` gives None and the engine yields instead.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import sys
from collections.abc import Callable

_CLOCK_MONOTONIC = 1
_TFD_FLAGS = os.O_NONBLOCK | os.O_CLOEXEC  # TFD_NONBLOCK, TFD_CLOEXEC have these values


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _libc() -> ctypes.CDLL | None:
    """libc's timerfd calls, if this is Linux."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.timerfd_create.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.timerfd_settime.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
    except (OSError, AttributeError):  # pragma: no cover (a libc without timerfd)
        return None
    return libc


class Alarm:
    """Calls `callback` from the loop when the time last `set` has passed."""

    def __init__(self, libc: ctypes.CDLL, fd: int, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]):
        self._settime = libc.timerfd_settime
        self._fd = fd
        self._loop = loop
        self._callback = callback
        self._spec = _Itimerspec()
        self._spec_ref = ctypes.byref(self._spec)
        loop.add_reader(fd, self._rang)

    @classmethod
    def open(cls, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> Alarm | None:
        """An alarm watched by `loop`, or None where there is no timerfd."""
        libc = _libc()
        if libc is None:
            return None
        fd = libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_FLAGS)
        if fd < 0:  # pragma: no cover (out of descriptors: the engine yields instead)
            return None
        return cls(libc, fd, loop, callback)

    def set(self, seconds: float) -> None:
        """Ring `seconds` from now, instead of when set before."""
        value = self._spec.it_value
        value.tv_sec, value.tv_nsec = divmod(max(int(seconds * 1e9), 1), 1_000_000_000)  # (zero would disarm it)
        if self._settime(self._fd, 0, self._spec_ref, None) != 0:
            raise OSError(ctypes.get_errno(), "timerfd_settime failed")

    def _rang(self) -> None:
        try:
            os.read(self._fd, 8)  # the expiry count: reading it re-arms the descriptor's readiness
        except BlockingIOError:  # re-set after it became readable: not yet due
            return
        self._callback()

    def close(self) -> None:
        self._loop.remove_reader(self._fd)
        os.close(self._fd)
