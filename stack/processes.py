"""Start processes on free loopback ports, wait until they answer, and stop them for sure.

Shared by the tests (tests/processes.py) and the benches, which must not import tests: standard library only, so
any deployable can use it. Each process runs in its own process group, so stopping it stops its children too
(uvicorn's workers, the stack's processes).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Loopback only: never through a proxy that the environment may name.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def answers(url: str, timeout: float = 1.0) -> bool:
    """Whether url answers 200 now; a refused connection, a timeout or another status is a no."""
    try:
        with _OPENER.open(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):  # HTTPError is a URLError; a reset or timeout is an OSError
        return False


def wait_until_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Poll url until it answers 200; fail early if the process exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        if answers(url):
            return
        time.sleep(0.05)
    raise TimeoutError(f"{url} not ready after {timeout}s")


def stop(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> int:
    """SIGTERM the process group, then SIGKILL what is left; returns the exit code."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode


@contextmanager
def running(
    args: Sequence[str],
    env: Mapping[str, str] | None = None,
    ready_url: str | None = None,
    log: Path | None = None,
    cwd: Path = ROOT,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `python <args>` (this interpreter) in its own process group until the block ends."""
    with open(log or os.devnull, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, *args],
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            if ready_url:
                wait_until_ready(ready_url, proc)
            yield proc
        finally:
            stop(proc)
