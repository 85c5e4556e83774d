"""Specs written by `python -m slo init`, one per preset: their generated rules pass `promtool check rules`, and
their generated promtool tests pass against them (series named and labelled as each target writes them).

Per server preset, every test file of the availability SLO and of one latency SLO (the other latency SLO's
differ only by threshold); the load generator's client-side SLOs once (they are the same for every preset).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from generators.repository import generate
from slo.init import PRESETS, write_spec
from tests import prom

#: The routes of each preset's spec: two (one with a "-", which the regex escapes), or one (routes cycle in tests).
ROUTES = {name: ["/predict", "/v2/batch-predict"] for name in PRESETS} | {"bentoml": ["/predict"]}
SERVER = ("requests-availability", "requests-latency-100ms")
CLIENT = ("synthetic-availability", "synthetic-latency-100ms")
KINDS = ("edges", "page", "records", "ticket")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Preset name -> the folder `python -m generators --spec --out` wrote for its spec."""
    folders = {}
    for name, preset in PRESETS.items():
        root = tmp_path_factory.mktemp(name)
        write_spec(preset, "my-model", ROUTES[name], None, root / "slo.yaml", synthetic=name == "loadgen")
        generate(root / "slo.yaml", root / "out")
        folders[name] = root / "out"
    return folders


def test_every_presets_rules_pass_promtool_check(generated: dict[str, Path]) -> None:
    for name, out in generated.items():
        rules = sorted((out / "rules").glob("slo-*.yml"))
        result = prom.promtool("check", "rules", *rules)
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"
        assert len(rules) == 3, name


def _selected(generated: dict[str, Path]) -> list[Path]:
    files = []
    for name, out in generated.items():
        slos = CLIENT if name == "loadgen" else SERVER if name != "service" else ("requests-latency-100ms",)
        kinds = KINDS if name != "service" else ("edges",)  # ours: the rest is tested on our own files
        files += [out / "tests" / f"slo-{slo}.{kind}.test.yml" for slo in slos for kind in kinds]
    return files


def test_every_presets_promtool_tests_pass(generated: dict[str, Path]) -> None:
    files = _selected(generated)
    assert len(files) == 3 * 8 + 8 + 1 and all(f.exists() for f in files)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda f: prom.promtool("test", "rules", f.name, cwd=f.parent), files))
    failed = {str(f): r.stdout + r.stderr for f, r in zip(files, results, strict=True) if r.returncode != 0}
    assert not failed, "\n".join(f"{name}:\n{out[-3000:]}" for name, out in failed.items())


def test_a_presets_promtool_tests_catch_a_wrong_status_selector(generated: dict[str, Path], tmp_path: Path) -> None:
    """The tests can fail: OpenTelemetry's availability rules counting 4xx instead of 5xx fail its page test."""
    out = generated["otel"]
    rules = (out / "rules" / "slo-requests-availability.yml").read_text()
    wrong = 'http_response_status_code=~"4.."'
    assert 'http_response_status_code=~"5.."' in rules
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "slo-requests-availability.yml").write_text(rules.replace('"5.."', '"4.."'))
    assert wrong in (tmp_path / "rules" / "slo-requests-availability.yml").read_text()
    tests = yaml.safe_load((out / "tests" / "slo-requests-availability.page.test.yml").read_text())
    tests["tests"] = tests["tests"][:1]
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "one.test.yml").write_text(yaml.safe_dump(tests))
    result = prom.promtool("test", "rules", "one.test.yml", cwd=tmp_path / "tests")
    assert result.returncode != 0 and "FAILED" in result.stdout + result.stderr
