"""The e2e tier's tools (Prometheus, Alertmanager, promtool, kubectl, docker-compose): a missing one skips the
test on a developer's machine and fails it in CI, where scripts/setup installs them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import prom


def test_a_present_tool_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tool = tmp_path / "promtool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert prom.binary("promtool") == str(tool)


def test_a_missing_tool_skips_locally_and_fails_in_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="kubectl is not installed"):
        prom.binary("kubectl")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="kubectl is not installed"):
        prom.binary("kubectl")
