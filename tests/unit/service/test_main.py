"""`python -m service` without a server: its arguments, its exit on a missing model, the metrics folder, imports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import uvicorn

from service import __main__ as main_module
from service.settings import ServiceSettings
from tests.unit.service.conftest import Trained


def test_help_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main_module.main(["--help"])
    assert exit_.value.code == 0
    assert "SERVICE_HOST" in capsys.readouterr().out


def test_a_missing_model_is_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SERVICE_MODEL_DIR", str(tmp_path))
    assert main_module.main([]) == 2
    assert "python -m service.train" in capsys.readouterr().err


def test_one_worker_serves_with_uvicorn_as_configured(trained: Trained, monkeypatch: pytest.MonkeyPatch) -> None:
    configs: list[uvicorn.Config] = []
    bound: list[tuple[int, int]] = []

    class Server:
        started = True

        def __init__(self, config: uvicorn.Config, drain_seconds: float, accepts_per_turn: int) -> None:
            configs.append(config)
            bound.append((accepts_per_turn, 0))

        def run(self, sockets: list[socket.socket]) -> None:
            (sock,) = sockets  # bound here, so that a port in use fails before the app loads
            bound[-1] = (bound[-1][0], sock.getsockname()[1])
            sock.close()

    port = free_port()
    monkeypatch.setenv("SERVICE_MODEL_DIR", str(trained.model_dir))
    monkeypatch.setenv("SERVICE_PORT", str(port))
    monkeypatch.setenv(main_module.MULTIPROC_ENV, "/elsewhere")
    monkeypatch.setattr(main_module.draining, "Server", Server)
    assert main_module.main([]) == 0
    (config,) = configs
    assert (config.app, config.factory, config.port, config.access_log, config.http) == (
        "service.app:create_app",
        True,
        port,
        False,
        main_module.HTTP_PROTOCOL,
    )
    assert (config.backlog, config.timeout_graceful_shutdown) == (1024, 10)
    assert bound == [(16, port)]
    assert main_module.MULTIPROC_ENV not in os.environ  # one worker: in-process metrics, with exemplars


def test_a_worker_that_cannot_start_is_exit_1_with_one_line(
    trained: Trained, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Server:
        started = False

        def __init__(self, config: uvicorn.Config, drain_seconds: float, accepts_per_turn: int) -> None:
            pass

        def run(self, sockets: list[socket.socket]) -> None:
            for sock in sockets:
                sock.close()
            main_module.supervisor.log.error("Traceback...\nRuntimeError: cannot load model 'latest'")
            raise SystemExit(3)

    monkeypatch.setenv("SERVICE_MODEL_DIR", str(trained.model_dir))
    monkeypatch.setenv("SERVICE_PORT", str(free_port()))
    monkeypatch.setattr(main_module.draining, "Server", Server)
    assert main_module.main([]) == 1
    assert capsys.readouterr().err == "error: RuntimeError: cannot load model 'latest'\n"


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_port_in_use_is_exit_1_with_one_line(
    trained: Trained, workers: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setenv("SERVICE_MODEL_DIR", str(trained.model_dir))
        monkeypatch.setenv("SERVICE_PORT", str(taken.getsockname()[1]))
        monkeypatch.setenv("SERVICE_WORKERS", workers)
        assert main_module.main([]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: ") and "Address already in use" in line


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_port_in_use_fails_before_the_metrics_folder_is_touched(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        (tmp_path / "counter_1.db").write_bytes(b"a live worker's")
        for name, value in {
            "MODEL_DIR": str(trained.model_dir),
            "PORT": str(taken.getsockname()[1]),
            "WORKERS": "2",
            "METRICS_DIR": str(tmp_path),
        }.items():
            monkeypatch.setenv(f"SERVICE_{name}", value)
        assert main_module.main([]) == 1
    assert "Address already in use" in capsys.readouterr().err
    assert (tmp_path / "counter_1.db").exists()


def test_serving_imports_neither_training_nor_prometheus_client_up_front() -> None:
    """sklearn/skl2onnx are for training only; prometheus-client must wait for PROMETHEUS_MULTIPROC_DIR."""
    code = "import sys, service.__main__; print(' '.join(sorted(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert "service.settings" in loaded
    assert not [m for m in loaded if m.split(".")[0] in ("sklearn", "skl2onnx", "prometheus_client", "service.train")]
    assert "service.train" not in loaded


def test_metrics_on_a_port_in_use_fail_the_start(trained: Trained, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = ServiceSettings(model_dir=trained.model_dir, metrics_port=taken.getsockname()[1])
        error = main_module.serve_metrics(settings, supervisor=os.getpid())
    assert error is not None and error.startswith("cannot serve metrics on 127.0.0.1:") and "in use" in error


def test_metrics_on_their_own_port(trained: Trained) -> None:
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main_module.serve_metrics(ServiceSettings(metrics_port=port), supervisor=os.getpid()) is None
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        assert b"process_cpu_seconds_total" in r.read()


def test_an_unusable_metrics_folder_fails_the_start_and_frees_the_port(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    settings = ServiceSettings(model_dir=trained.model_dir, workers=2, port=0, metrics_dir=blocker / "m")
    assert main_module.serve_many(settings) == f"metrics folder {blocker / 'm'} is not writable: Not a directory"


def test_several_workers_run_under_the_supervisor(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[int] = []

    class Supervisor:
        def __init__(self, config: uvicorn.Config, sock: socket.socket, workers: int) -> None:
            runs.append(workers)
            assert os.environ[main_module.MULTIPROC_ENV] == str(tmp_path)

        def run(self) -> str | None:
            return "service worker 1 failed to start: RuntimeError: cannot load model"

    monkeypatch.setattr(main_module.supervisor, "Supervisor", Supervisor)
    monkeypatch.delenv(main_module.MULTIPROC_ENV, raising=False)
    settings = ServiceSettings(model_dir=trained.model_dir, workers=3, port=0, metrics_dir=tmp_path)
    assert main_module.serve_many(settings) == "service worker 1 failed to start: RuntimeError: cannot load model"
    assert runs == [3]
    assert tmp_path.is_dir()


def test_invalid_settings_are_exit_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SERVICE_FAULTS", '{"routes": {"/admin/faults": {"error_rate": 1}}}')
    monkeypatch.setenv("SERVICE_MAX_HEADERS", "3")
    assert main_module.main([]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: invalid settings: ")
    assert "SERVICE_MAX_HEADERS: Input should be greater than or equal to 16" in line
    assert "SERVICE_FAULTS_ROUTES: Value error, cannot inject faults on ['/admin/faults']" in line
