"""`python -m service` without a server: its arguments, its exit on a missing model, the metrics folder, imports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_serves_with_uvicorn_as_configured(trained: Trained, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, object]] = []
    monkeypatch.setenv("SERVICE_MODEL_DIR", str(trained.model_dir))
    monkeypatch.setenv("SERVICE_PORT", "8123")
    monkeypatch.setattr(main_module.uvicorn, "run", lambda app, **kw: calls.append({"app": app, **kw}))
    assert main_module.main([]) == 0
    (call,) = calls
    assert (call["app"], call["factory"], call["port"], call["access_log"]) == (
        "service.app:create_app",
        True,
        8123,
        False,
    )


def test_metrics_dir_one_worker_and_several(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(main_module.MULTIPROC_ENV, "/elsewhere")
    main_module.prepare_metrics_dir(ServiceSettings(workers=1))
    assert main_module.MULTIPROC_ENV not in os.environ
    stale = tmp_path / "counter_1.db"
    stale.write_bytes(b"old")
    (tmp_path / "keep").mkdir()
    main_module.prepare_metrics_dir(ServiceSettings(workers=2, metrics_dir=tmp_path))
    assert os.environ[main_module.MULTIPROC_ENV] == str(tmp_path)
    assert not stale.exists() and (tmp_path / "keep").is_dir()
    main_module.prepare_metrics_dir(ServiceSettings(workers=2))
    assert Path(os.environ[main_module.MULTIPROC_ENV]).name.startswith("service-metrics-")


def test_serving_imports_neither_training_nor_prometheus_client_up_front() -> None:
    """sklearn/skl2onnx are for training only; prometheus-client must wait for PROMETHEUS_MULTIPROC_DIR."""
    code = "import sys, service.__main__; print(' '.join(sorted(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert "service.settings" in loaded
    assert not [m for m in loaded if m.split(".")[0] in ("sklearn", "skl2onnx", "prometheus_client", "service.train")]
    assert "service.train" not in loaded
