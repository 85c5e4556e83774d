"""The real prediction service on a free loopback port for the tests; the generic helpers live in stack/processes.py
(the benches use them too and must not import tests), re-exported here under their old names."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from subprocess import Popen

from stack.processes import ROOT, free_port, running, stop, wait_until_ready

__all__ = ["ROOT", "free_port", "running", "service", "service_process", "stop", "wait_until_ready"]


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
def service_process(env: Mapping[str, str], base: str, log: Path) -> Iterator[Popen[bytes]]:
    """The real service with exactly these SERVICE_* settings (e.g. a fixed port, to restart it on the same one)."""
    with running(["-m", "service"], env, ready_url=f"{base}/readyz", log=log) as proc:
        yield proc
