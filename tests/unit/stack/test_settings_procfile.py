"""The stack's settings and the Procfile rendered from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack import procfile
from stack.settings import ROOT, StackSettings


def test_procfile_has_every_process_on_loopback_with_the_settings_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACK_SERVICE_PORT", "18000")
    monkeypatch.setenv("STACK_LOADGEN_PORT", "19100")
    monkeypatch.setenv("STACK_SERVICE_WORKERS", "3")
    lines = dict(line.split(": ", 1) for line in procfile.render(StackSettings()).splitlines())
    assert list(lines) == list(procfile.PROCESSES)
    assert "SERVICE_PORT=18000" in lines["service"] and "SERVICE_WORKERS=3" in lines["service"]
    assert "LOADGEN_TARGET=http://127.0.0.1:18000" in lines["loadgen"]
    assert "LOADGEN_METRICS_PORT=19100" in lines["loadgen"]
    assert lines["loadgen"].index("/readyz") < lines["loadgen"].index("-m loadgen daemon")  # waits for the service
    assert "--enable-feature=exemplar-storage" in lines["prometheus"]
    assert "--cluster.listen-address=" in lines["alertmanager"]
    assert all(line.split(" && ")[-1].startswith("exec ") for line in lines.values())  # SIGTERM to its group reaches it


def test_procfile_leaves_out_what_is_asked_and_refuses_unknown_processes() -> None:
    text = procfile.render(StackSettings(), frozenset({"loadgen", "alertmanager"}))
    assert [line.split(":")[0] for line in text.splitlines()] == ["service", "prometheus"]
    with pytest.raises(ValueError, match="unknown process"):
        procfile.render(StackSettings(), frozenset({"grafana"}))


def test_run_paths_live_under_the_run_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STACK_RUN_DIR", str(tmp_path))
    paths = procfile.run_paths(StackSettings())
    assert all(p.is_relative_to(tmp_path) for p in paths.values())


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::"])
def test_settings_refuse_a_non_loopback_host(monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    monkeypatch.setenv("STACK_HOST", host)
    with pytest.raises(ValueError, match="loopback"):
        StackSettings()


def test_urls_and_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACK_HOST", "::1")
    settings = StackSettings()
    assert settings.url(9090) == "http://[::1]:9090"
    assert settings.path(Path("run")) == ROOT / "run" and settings.path(Path("/x")) == Path("/x")
    monkeypatch.setenv("STACK_HOST", "localhost")
    assert StackSettings().url(1) == "http://localhost:1"


def test_the_status_rate_window_follows_the_scrape_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    assert StackSettings().rate_windows() == (60.0, 30.0)  # 15s scrapes
    monkeypatch.setenv("STACK_SCRAPE_INTERVAL", "1m")
    assert StackSettings().rate_windows() == (240.0, 120.0)
    monkeypatch.setenv("STACK_SCRAPE_INTERVAL", "soon")
    with pytest.raises(ValueError, match="not a duration"):
        StackSettings()
