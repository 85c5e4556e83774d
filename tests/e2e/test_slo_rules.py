"""The generated Prometheus files: fresh, valid for promtool, and proven by promtool unit tests."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from generators.repository import rendered, stale_repository
from tests import prom
from tests.processes import ROOT

PROMETHEUS = ROOT / "prometheus"
GENERATED = PROMETHEUS / "generated"
SPEC = PROMETHEUS / "slo.yaml"


def test_generated_files_are_up_to_date() -> None:
    """Rules, promtool tests, Prometheus configs, dashboards and Kubernetes objects: all from the spec."""
    stale = stale_repository(SPEC, ROOT)
    assert not stale, f"regenerate with `python -m generators`: {[str(p) for p in stale]}"


def test_no_stray_generated_files() -> None:
    """The generated folder holds only what the generators write (and its README)."""
    expected = set(rendered(SPEC)) | {"README.md"}
    present = {str(p.relative_to(GENERATED)) for p in GENERATED.rglob("*") if p.is_file()}
    assert present == expected, present ^ expected


def test_promtool_check_config_and_rules() -> None:
    result = prom.promtool("check", "config", GENERATED / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    rules = sorted((GENERATED / "rules").glob("*.yml"))
    result = prom.promtool("check", "rules", *rules)
    assert result.returncode == 0, result.stdout + result.stderr
    # Per SLO: 8 SLI windows, 7 meta recordings, page and ticket alerts; then the 5 operational alerts.
    assert [p.name for p in rules] == [
        "operational.yml",
        "slo-requests-availability.yml",
        "slo-requests-latency-100ms.yml",
        "slo-requests-latency-500ms.yml",
    ]
    counts = [line.split()[1] for line in result.stdout.splitlines() if "SUCCESS" in line]
    assert counts == ["5", "17", "17", "17"], result.stdout


def test_shrunk_rules_pass_promtool(tmp_path: Path) -> None:
    from generators.repository import generate

    paths = generate(SPEC, tmp_path, shrink=60)
    result = prom.promtool("check", "rules", *paths)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[5s]" in (tmp_path / "rules" / "slo-requests-availability.yml").read_text()


def test_promtool_unit_tests() -> None:
    """Every alert: fires at its threshold in time, silent at/below budget, resolves; recording values."""
    files = [*sorted((GENERATED / "tests").glob("*.test.yml")), PROMETHEUS / "operational.test.yml"]
    assert len(files) == 10
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda f: prom.promtool("test", "rules", f.name, cwd=f.parent), files))
    failed = {f.name: r.stdout + r.stderr for f, r in zip(files, results, strict=True) if r.returncode != 0}
    assert not failed, "\n".join(f"{name}:\n{out[-3000:]}" for name, out in failed.items())


def test_promtool_tests_catch_a_wrong_threshold(tmp_path: Path) -> None:
    """The unit tests can fail: a page alert at twice its burn factor makes them fail."""
    shutil.copytree(GENERATED / "tests", tmp_path / "tests")
    shutil.copytree(GENERATED / "rules", tmp_path / "rules")
    rules = tmp_path / "rules" / "slo-requests-availability.yml"
    rules.write_text(rules.read_text().replace("> (14.4 * 0.001)", "> (28.8 * 0.001)"))
    result = prom.promtool("test", "rules", "slo-requests-availability.page.test.yml", cwd=tmp_path / "tests")
    assert result.returncode != 0
    assert "page 14.4x over 1h and 5m" in result.stdout + result.stderr


def test_alertmanager_accepts_its_config(tmp_path: Path) -> None:
    args = [
        prom.binary("prometheus-alertmanager"),
        f"--config.file={PROMETHEUS / 'alertmanager.yml'}",
        f"--storage.path={tmp_path}",
        "--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    with prom.server(args, "/-/ready", tmp_path / "alertmanager.log") as url:
        status = httpx.get(f"{url}/api/v2/status", timeout=5).json()
    assert "receiver: pager" in status["config"]["original"]


@pytest.mark.parametrize("target", ["service:8000"])
def test_config_targets_can_be_overridden(target: str, tmp_path: Path) -> None:
    from slo.__main__ import main

    out = tmp_path / "prometheus.yml"
    assert main(["config", "--service", target, "--alertmanager", "alertmanager:9093", "--out", str(out)]) == 0
    text = out.read_text()
    assert f"- {target}" in text and "- alertmanager:9093" in text and "- 127.0.0.1:9100" in text
