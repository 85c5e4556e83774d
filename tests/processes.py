"""Start real processes on free loopback ports for the tests, and stop them for sure."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
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
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `python <args>` in its own process group until the block ends."""
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
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
        if log:
            out.close()


@contextmanager
def service(tmp: Path, **settings: str) -> Iterator[str]:
    """The real prediction service on a free port; yields its base URL. Its log is tmp/service.log."""
    port = free_port()
    env = {"SERVICE_HOST": "127.0.0.1", "SERVICE_PORT": str(port)}
    env.update({f"SERVICE_{k.upper()}": v for k, v in settings.items()})
    base = f"http://127.0.0.1:{port}"
    with running(["-m", "service"], env, ready_url=f"{base}/readyz", log=tmp / "service.log"):
        yield base


@contextmanager
def service_process(env: Mapping[str, str], base: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The real service with exactly these SERVICE_* settings (e.g. a fixed port, to restart it on the same one)."""
    with running(["-m", "service"], env, ready_url=f"{base}/readyz", log=log) as proc:
        yield proc
