"""The generated Prometheus files: valid for promtool, and proven by promtool unit tests.

(That they are fresh, and that the folder holds nothing else, is the fast tier's: tests/unit/generators/.)"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import yaml

from contract.routes import prediction_routes_regex
from generators.repository import generate
from tests import prom
from tests.processes import ROOT

PROMETHEUS = ROOT / "prometheus"
GENERATED = PROMETHEUS / "generated"
SPEC = PROMETHEUS / "slo.yaml"


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


def mutated_rules_fail(tmp_path: Path, old: str, new: str) -> str:
    """promtool's output on the availability page test of the 14.4x condition (alone: half the time of its file)
    against the rules with `old` replaced by `new`."""
    shutil.copytree(GENERATED / "rules", tmp_path / "rules")
    rules = tmp_path / "rules" / "slo-requests-availability.yml"
    assert old in rules.read_text()
    rules.write_text(rules.read_text().replace(old, new))
    tests = yaml.safe_load((GENERATED / "tests" / "slo-requests-availability.page.test.yml").read_text())
    tests["tests"] = [t for t in tests["tests"] if "page 14.4x over 1h and 5m" in t["name"]]
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "page.test.yml").write_text(yaml.safe_dump(tests))
    result = prom.promtool("test", "rules", "page.test.yml", cwd=tmp_path / "tests")
    assert result.returncode != 0
    return result.stdout + result.stderr


def test_promtool_tests_catch_a_wrong_threshold(tmp_path: Path) -> None:
    """The unit tests can fail: a page alert at twice its burn factor makes them fail."""
    assert "page 14.4x over 1h and 5m" in mutated_rules_fail(tmp_path, "> (14.4 * 0.001)", "> (28.8 * 0.001)")


def test_promtool_tests_catch_a_route_left_out(tmp_path: Path) -> None:
    """The inputs spread over the prediction routes: SLI rules that miss one of them make the tests fail."""
    regex = prediction_routes_regex()
    kept = regex.split("|", 1)[0]
    assert "page 14.4x over 1h and 5m" in mutated_rules_fail(tmp_path, f'route=~"{regex}"', f'route=~"{kept}"')


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
