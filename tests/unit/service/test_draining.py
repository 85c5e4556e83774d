"""Stopping: the drain (/readyz 503, requests still served), a second signal, the budget Kubernetes gives."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn
import yaml
from prometheus_client import REGISTRY

from contract import routes
from service import draining
from service.app import create_app
from service.observability import metrics
from service.settings import ServiceSettings
from tests.unit.service.conftest import Serve, Trained

pytestmark = pytest.mark.anyio
K8S = Path(__file__).resolve().parents[3] / "deploy" / "k8s" / "service.yaml"


@pytest.fixture
def fresh_flag(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    flag = threading.Event()
    monkeypatch.setattr(draining, "DRAINING", flag)
    return flag


def server(drain: float) -> draining.Server:
    s = draining.Server(uvicorn.Config("service.app:create_app", factory=True), drain)
    s.started = True
    return s


def test_sigterm_drains_first_then_stops(fresh_flag: threading.Event) -> None:
    s = server(0.2)
    s.handle_exit(signal.SIGTERM, None)
    assert fresh_flag.is_set() and not s.should_exit
    assert gauge_reads_zero()
    deadline = time.monotonic() + 5
    while not s.should_exit and time.monotonic() < deadline:
        time.sleep(0.02)
    assert s.should_exit


def gauge_reads_zero() -> bool:
    deadline = time.monotonic() + 5
    while REGISTRY.get_sample_value("service_ready") != 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    return REGISTRY.get_sample_value("service_ready") == 0


def test_the_signal_handler_waits_on_no_metrics_lock(fresh_flag: threading.Event) -> None:
    """A signal lands between two bytecodes of the main thread, maybe while it updates a metric (holding its
    lock, the one global lock in multiprocess mode): the handler must not take that lock itself."""
    metrics.set_ready(True)
    lock = metrics.READY._value._lock  # prometheus_client's (a private name, bounded in pyproject): held here

    def stuck(*_: object) -> None:
        raise AssertionError("the signal handler waited on the metrics lock its own thread holds")

    previous = signal.signal(signal.SIGALRM, stuck)
    signal.alarm(5)  # a handler that waits forever fails the test instead of hanging it
    try:
        with lock:
            server(0).handle_exit(signal.SIGTERM, None)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert fresh_flag.is_set() and gauge_reads_zero()


def test_a_second_signal_skips_the_drain(fresh_flag: threading.Event) -> None:
    s = server(30)
    s.handle_exit(signal.SIGTERM, None)
    assert not s.should_exit
    s.handle_exit(signal.SIGTERM, None)
    assert s.should_exit


def test_no_drain_stops_at_once(fresh_flag: threading.Event) -> None:
    s = server(0)
    s.handle_exit(signal.SIGTERM, None)
    assert fresh_flag.is_set() and s.should_exit


async def test_readyz_is_503_while_draining(trained: Trained, fresh_flag: threading.Event) -> None:
    app = create_app(ServiceSettings(model_dir=trained.model_dir))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as client:
        fresh_flag.set()
        r = await client.get(routes.READYZ)
    assert (r.status_code, r.json()) == (503, {"status": "draining"})


def test_kubernetes_gives_the_stop_time_enough() -> None:
    """preStop sleep + drain + graceful bound, with room to spare, under terminationGracePeriodSeconds."""
    (deployment,) = [d for d in yaml.safe_load_all(K8S.read_text()) if d and d["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    settings = ServiceSettings(
        drain_seconds=env.get("SERVICE_DRAIN_SECONDS", ServiceSettings().drain_seconds),
        graceful_shutdown_seconds=env.get(
            "SERVICE_GRACEFUL_SHUTDOWN_SECONDS", ServiceSettings().graceful_shutdown_seconds
        ),
    )
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    budget = float(command[1]) + settings.drain_seconds + settings.graceful_shutdown_seconds
    assert budget + 5 <= pod["terminationGracePeriodSeconds"]


async def test_the_admission_bound_is_exported_at_start(serve: Serve) -> None:
    async with serve(max_queue_delay_ms=20):
        assert REGISTRY.get_sample_value("http_server_admission_max_queue_delay_seconds") == 0.02
    async with serve():
        assert REGISTRY.get_sample_value("http_server_admission_max_queue_delay_seconds") == 0.05
