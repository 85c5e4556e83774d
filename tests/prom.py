"""Prometheus' own binaries for the tests: promtool, and a real Prometheus server on a free port.

Its HTTP API is read through the stack's own client (stack/prometheus.py): the tests use what the
report and the dashboard checker use.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from stack.prometheus import Prometheus
from tests.processes import free_port, stop, wait_until_ready


def binary(name: str) -> str:
    """The tool's path. Missing, it skips on a developer's machine but fails in CI (the CI variable set, as CI
    services set it), where scripts/setup installs every tool: a suite that skips there proves nothing."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (bash scripts/setup installs the tools the e2e tests run)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def promtool(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary("promtool"), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600)


@contextmanager
def server(args: Sequence[str], ready_path: str, log: Path) -> Iterator[str]:
    """Run a Prometheus-family binary (args include the listen flag placeholder {port}); yields its base URL."""
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [a.format(port=port) for a in args], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_ready(base + ready_path, proc)
            yield base
        finally:
            stop(proc)


@contextmanager
def prometheus(config: Path, data: Path) -> Iterator[str]:
    args = [
        binary("prometheus"),
        f"--config.file={config}",
        f"--storage.tsdb.path={data}",
        "--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    with server(args, "/-/ready", config.parent / "prometheus.log") as url:
        yield url


def alerts(prometheus_url: str) -> list[dict[str, Any]]:
    """Active alerts (pending and firing)."""
    return Prometheus(prometheus_url, timeout=5).alerts()


def wait_for(predicate: Any, timeout: float, interval: float = 0.5) -> float | None:
    """Seconds until predicate() is true, None if it never was within timeout."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(interval)
    return None
